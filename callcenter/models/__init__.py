"""SQLModel tables. Import from here: ``from callcenter.models import Patient``."""

from callcenter.models.base import UTCDateTime, utc_now
from callcenter.models.calls import CallAttempt, Outcome, Recording, TranscriptSegment
from callcenter.models.patients import (
    Encounter,
    EncounterKind,
    GroupMembership,
    Patient,
    PatientGroup,
    PatientIdentifier,
    PatientPhone,
    PhoneOwner,
    Sex,
)
from callcenter.models.plans import Channel, FollowUpPlan, Task, TaskEvent, TaskStatus
from callcenter.models.qa import AdherenceCheck, QaReview
from callcenter.models.questionnaires import Questionnaire, QuestionnaireStatus
from callcenter.models.responses import Alert, Answer, AnswerSource, Appointment, Response
from callcenter.models.sms import SmsMessage, SmsReply, SmsStatus
from callcenter.models.users import AuditEvent, Role, Team, User

__all__ = [
    "AdherenceCheck", "QaReview",
    "Alert", "Answer", "AnswerSource", "Appointment", "AuditEvent", "CallAttempt", "Channel", "Encounter",
    "EncounterKind", "FollowUpPlan", "GroupMembership", "Outcome", "Patient", "PatientGroup", "PatientIdentifier", "PatientPhone",
    "PhoneOwner", "Questionnaire", "QuestionnaireStatus", "Recording", "Response", "Role", "Sex", "SmsMessage",
    "SmsReply", "SmsStatus", "Task", "TaskEvent", "TaskStatus", "Team", "TranscriptSegment", "UTCDateTime", "User", "utc_now",
]
