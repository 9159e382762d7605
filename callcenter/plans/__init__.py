"""The default follow-up plans (随访方案), shipped as YAML data files; loaded by ``callcenter.plans_repo``."""
