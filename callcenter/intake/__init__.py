"""HIS intake: CSV/XLSX, HL7 v2 (files and MLLP), FHIR R4 and SQL views into patients and encounters."""
