"""SMS to patients: templates, the outbox (retries, consent, opt-out replies) and the SMPP adapter.

Pure parts: ``templates`` (zh-CN texts with patient variables), ``outbox`` (backoff, send windows, opt-out
words), ``receipts`` (SMPP delivery receipt text), ``gateway`` (the port). Database use cases: ``service`` and
``campaigns``. The only module that imports smpplib is ``callcenter.sms.smpp``.
"""
