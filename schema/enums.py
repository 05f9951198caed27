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
    RENAME_CLASS = "RENAME_CLASS"
    DRAFTS = "DRAFTS"
    SOURCE_CHANGE = "SOURCE_CHANGE"
    DUPLICATES = "DUPLICATES"
    AGREEMENT = "AGREEMENT"
    SPLITS = "SPLITS"
    EVALUATE = "EVALUATE"


@strawberry.enum(description="Where a sample goes when a model is trained on the project (assignSplits).")
class Split(Enum):
    TRAIN = "TRAIN"
    VALIDATION = "VALIDATION"
    TEST = "TEST"


@strawberry.enum(description="A reviewer's verdict on a likely label error (judgeLabelError).")
class LabelErrorVerdict(Enum):
    CONFIRMED_ERROR = "CONFIRMED_ERROR"
    NOT_AN_ERROR = "NOT_AN_ERROR"


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
    REFERENCE = strawberry.enum_value("REFERENCE", description=(
        "A training snapshot that does not copy the images: classification labels.tsv (full volume path, class "
        "index) + classes.txt, detection COCO with full volume paths and normalised boxes; metadata.json carries "
        "PyTorch / Hugging Face loaders. Refused when a labelled image has not exactly one known class or has a box "
        "outside the image."))


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


@strawberry.enum(description="How a project's model is reached: an ONNX file in a volume, a Databricks Model Serving "
                             "endpoint or a Label Studio ML backend.")
class ModelProtocol(Enum):
    ONNX = "onnx"
    SERVING = "serving"
    LABEL_STUDIO = "labelstudio"


@strawberry.enum(description="A member's role in a project; each can do what the ones before it can. VIEWER reads; "
                             "ANNOTATOR labels and skips; REVIEWER also accepts or rejects labelled samples; OWNER "
                             "also changes settings, members, imports, exports, models and deletes.")
class ProjectRole(Enum):
    VIEWER = "viewer"
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    OWNER = "owner"


@strawberry.enum(description="A labelled sample's review: NONE (not reviewed since its labels last changed), "
                             "ACCEPTED or REJECTED (back to its labeller, with the reviewer's comment).")
class ReviewStatus(Enum):
    NONE = "NONE"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
