"""GraphQL enums, named and valued exactly as in the public contract."""

from enum import Enum

import strawberry


@strawberry.enum
class TaskType(Enum):
    CLASSIFICATION = "CLASSIFICATION"
    DETECTION = "DETECTION"


@strawberry.enum
class SampleStatus(Enum):
    UNLABELED = "UNLABELED"
    PRE_LABELED = "PRE_LABELED"
    LABELED = "LABELED"
    SKIPPED = "SKIPPED"


@strawberry.enum
class AnnotationKind(Enum):
    CLASSIFICATION = "CLASSIFICATION"
    BBOX = "BBOX"


@strawberry.enum
class JobKind(Enum):
    SCAN = "SCAN"
    IMPORT = "IMPORT"
    EXPORT = "EXPORT"
    PREANNOTATE = "PREANNOTATE"


@strawberry.enum
class JobStatus(Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@strawberry.enum
class ImportFormat(Enum):
    COCO = "COCO"
    JSONL = "JSONL"
    YOLO = "YOLO"


@strawberry.enum
class ExportFormat(Enum):
    COCO = "COCO"
    CSV = "CSV"
    JSONL = "JSONL"
    YOLO = "YOLO"
    PASCAL_VOC = "PASCAL_VOC"


@strawberry.enum
class OnMissingSample(Enum):
    ERROR = "ERROR"
    SKIP = "SKIP"
    CREATE = "CREATE"


@strawberry.enum
class OnExistingAnnotations(Enum):
    REPLACE = "REPLACE"
    APPEND = "APPEND"
    SKIP = "SKIP"


@strawberry.enum(description="ID: oldest first. LEAST_CONFIDENT (active learning): the sample whose least confident "
                             "model draft is lowest first; samples without drafts after them.")
class SampleOrder(Enum):
    ID = "ID"
    LEAST_CONFIDENT = "LEAST_CONFIDENT"
