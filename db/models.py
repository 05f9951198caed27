"""SQLAlchemy 2 ORM models: one class per table. Relationships are lazy="raise" so an N+1 fails loudly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    false,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Integer primary keys that autoincrement on both SQLite (INTEGER PRIMARY KEY) and PostgreSQL (BIGINT identity).
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    __table__: ClassVar[Table]  # every model maps one table: bulk statements use it as a Core Table


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform_id", name="uq_users_platform_id"),
                      Index("ix_users_email", "email"))
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(320), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # AUTH_MODE=token only; see db.auth
    deactivated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # signs in no more; see db.users
    # AUTH_MODE=databricks: the identity provider's stable user id (X-Forwarded-User), which the account is keyed
    # on, and the e-mail it last came with (normalised), which may change or pass to someone else; see db.users
    platform_id: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(320))


class SignInFailure(Base):
    """Recent failed sign-ins of an account or a client address (routes.sign_in_throttle), kept here so that
    every server process counts the same attempts. Times are epoch seconds."""

    __tablename__ = "sign_in_failures"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)  # "account:<name>" or "address:<ip>"
    count: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[float] = mapped_column(Float)
    blocked_until: Mapped[float] = mapped_column(Float)


class UserSession(Base):
    """A browser login (AUTH_MODE=token): the id is the SHA-256 of the cookie value, which is never stored."""

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """A token for automation: shown once, stored as its SHA-256, revocable."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell tokens apart in lists
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class VolumeShare(Base):
    """A volume path (a volume or a folder in one) an instance admin shared with a user: they may browse it, preview
    its images, import from it and export into it (schema.reach)."""

    __tablename__ = "volume_shares"
    __table_args__ = (UniqueConstraint("user_id", "path", name="uq_volume_shares_user_path"),
                      {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1024))  # normalised (volumes.paths.parse), no trailing slash
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    task_type: Mapped[str] = mapped_column(String(20))
    classes: Mapped[list[str]] = mapped_column(JSON)
    multi_label: Mapped[bool] = mapped_column(Boolean, default=False)
    source_volume: Mapped[str] = mapped_column(String(1024))
    source_table: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # db.source_tables; None: the folder is walked
    version: Mapped[int] = mapped_column(Integer, default=1)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    root_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    model_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # jobs.models.settings; None = defaults
    key_map: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the owner's class keys (db.key_maps); None: defaults
    consensus: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # overlap, thresholds (db.overlap); None: defaults
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LabelSetting(Base):
    """One user's labelling settings in one project: their own key map over the owner's, and where a save goes
    next (ORDER: the next image in order; NEEDS_WORK: the next image that needs work)."""

    __tablename__ = "label_settings"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key_map: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after_save: Mapped[str] = mapped_column(String(20), default="ORDER", server_default="ORDER")


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (Index("ix_project_members_user_id", "user_id", "project_id"),)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))


class Sample(Base):
    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("project_id", "path", name="uq_samples_project_path"),
        Index("ix_samples_project_id", "project_id", "id"),
        Index("ix_samples_project_status_id", "project_id", "status", "id"),
        Index("ix_samples_project_labeled_by_id", "project_id", "labeled_by", "id"),
        Index("ix_samples_project_review_id", "project_id", "review_status", "id"),
        Index("ix_samples_project_duplicate_group", "project_id", "duplicate_group", "id"),
        Index("ix_samples_project_split", "project_id", "split", "id"),
        # a claim's look for the caller's own lease (db.labels.claim_next): leased rows only
        Index("ix_samples_project_lease", "project_id", "locked_by", "id",
              postgresql_where=text("locked_by IS NOT NULL"), sqlite_where=text("locked_by IS NOT NULL")),
        # the few samples with nested boxes of a class (db.geometry's nestedSameClass), in id order
        Index("ix_samples_project_nested", "project_id", "id", postgresql_where=text("nested_boxes"),
              sqlite_where=text("nested_boxes = 1")),
        Index("ix_samples_project_boxes", "project_id", "box_count"),
        {"sqlite_autoincrement": True},  # ids are never reused: cursors and caches keyed by id stay valid
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(2048))
    filename: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(20), default="UNLABELED")
    version: Mapped[int] = mapped_column(Integer, default=1)
    locked_by: Mapped[str | None] = mapped_column(String(320))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    labeled_by: Mapped[str | None] = mapped_column(String(320))
    labeled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    skipped_by: Mapped[str | None] = mapped_column(String(320))
    no_objects: Mapped[bool] = mapped_column(Boolean, default=False)  # saved on purpose with nothing in it
    updated_by: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    min_confidence: Mapped[float | None] = mapped_column(Float)
    max_confidence: Mapped[float | None] = mapped_column(Float)
    review_status: Mapped[str] = mapped_column(String(20), default="NONE", server_default="NONE")  # ACCEPTED|REJECTED
    reviewed_by: Mapped[str | None] = mapped_column(String(320))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    review_comment: Mapped[str | None] = mapped_column(Text)
    missing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)  # a rescan did not find the file
    image_hash: Mapped[int | None] = mapped_column(BigInteger)  # 64-bit pHash of the thumbnail, signed (db.duplicates)
    duplicate_group: Mapped[int | None] = mapped_column(BigInteger)  # first sample id of its near-duplicate group
    split: Mapped[str | None] = mapped_column(String(10))  # TRAIN | VALIDATION | TEST (db.splits); None: unassigned
    # a confirmed box lies wholly inside another of its class (db.box_nesting): the geometry filter nestedSameClass,
    # kept by the label writer (db.label_plans.plan_change) and by a class rename (db.class_rename)
    nested_boxes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # its confirmed boxes (the geometry filter moreBoxesThan, whose exact total counted every box of the project)
    box_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # the smallest width and height (normalised) among its confirmed boxes; null without one (geometry)
    min_box_w: Mapped[float | None] = mapped_column(Float)
    min_box_h: Mapped[float | None] = mapped_column(Float)


# Active learning order: the least confident model draft first, samples without drafts after (2.0 > any
# confidence). The same expression is used by the queries (db.samples, db.labels) so the index serves them.
CONFIDENCE_KEY = func.coalesce(Sample.min_confidence, literal_column("2.0"))
Index("ix_samples_project_confidence", Sample.project_id, CONFIDENCE_KEY, Sample.id)
# The smallest side in pixels among a sample's confirmed boxes: the smaller of its smallest box width and height
# times the image's (null without a box or a known size). The geometry filter "a box under N px" reads it, as the
# same expression, so the index serves it (migration 0024).
SMALLEST_BOX_PX = case((Sample.min_box_w * Sample.width <= Sample.min_box_h * Sample.height,
                        Sample.min_box_w * Sample.width), else_=Sample.min_box_h * Sample.height)
Index("ix_samples_project_smallest_box", Sample.project_id, SMALLEST_BOX_PX)
# Filename parts (LIKE '%part%') on PostgreSQL: trigrams of the lowered name (migration 0013; pg_trgm).
Index("ix_samples_filename_trgm", func.lower(Sample.filename).label("filename_lower"), postgresql_using="gin",
      postgresql_ops={"filename_lower": "gin_trgm_ops"}).ddl_if(dialect="postgresql")


class Annotation(Base):
    __tablename__ = "annotations"
    __table_args__ = (
        Index("ix_annotations_sample", "sample_id"),
        # is_draft before sample_id: the gallery's label filter (confirmed boxes) reads sample ids in order
        Index("ix_annotations_project_label", "project_id", "label", "is_draft", "sample_id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(Id)  # denormalised for indexes; rows go with their sample
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    x: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    w: Mapped[float | None] = mapped_column(Float)
    h: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    is_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DraftedLabel(Base):
    """A confirmed class of a sample that also holds a model draft's confidence, with that confidence (the sample's
    min_confidence): "least confident first" among a label's samples reads its drafted ones from one index in
    order, instead of walking every drafted sample of the project (db.samples.least_confident_statements). Kept by
    the label writer (db.label_plans.plan_change -> Change.drafted, db.drafted_labels) and rebuilt by a recount."""

    __tablename__ = "drafted_labels"
    __table_args__ = (Index("ix_drafted_labels_order", "project_id", "label", "confidence", "sample_id"),)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    project_id: Mapped[int] = mapped_column(Id)  # denormalised for the index; rows go with their sample
    confidence: Mapped[float] = mapped_column(Float)


class AnnotationEvent(Base):
    __tablename__ = "annotation_events"
    __table_args__ = (Index("ix_annotation_events_sample_id", "sample_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(Id, index=True)  # denormalised; rows go with their sample
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(40))
    label_before: Mapped[str | None] = mapped_column(String(200))
    label_after: Mapped[str | None] = mapped_column(String(200))
    box_before: Mapped[list[float] | None] = mapped_column(JSON)
    box_after: Mapped[list[float] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text)  # a reviewer's comment (review_accept / review_reject)
    # an import's or a model's additions to the sample, one row for them all: [label, x, y, w, h] or [label] each
    # (db.history_items; read back as one event per annotation)
    items: Mapped[list[list[Any]] | None] = mapped_column(JSON)


class Submission(Base):
    """One labeller's own labels of an image in a project with overlap (db.submissions). A row whose submitted_at
    is null is only a claim: the image is leased to that labeller until lease_expires_at."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("sample_id", "user", name="uq_submissions_sample_user"),
                      Index("ix_submissions_project_sample", "project_id", "sample_id"),
                      {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(Id)  # denormalised; rows go with their sample
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(320))
    items: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)  # [label] or [label, x, y, w, h]
    no_objects: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=0)  # 0 while only claimed; +1 on every change
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SampleAgreement(Base):
    """An image's agreement once it has all its submissions, and whether it waits for adjudication."""

    __tablename__ = "sample_agreements"
    __table_args__ = (Index("ix_sample_agreements_queue", "project_id", "state", "score", "sample_id"),)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(Id)
    score: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(20))  # AGREED | ADJUDICATE | ADJUDICATED
    raters: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)  # pairs, vsConsensus, sums (db.agreement.ImageAgreement)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LabelErrorSuspect(Base):
    """An image whose labels the latest evaluated model disagrees with (jobs.label_errors), and a reviewer's verdict:
    a judged image is not raised again while its labels (labels_key) stay the same."""

    __tablename__ = "label_error_suspects"
    __table_args__ = (Index("ix_label_error_suspects_queue", "project_id", "verdict", "score", "sample_id"),)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(Id)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(320))
    labels_key: Mapped[str] = mapped_column(String(40))
    verdict: Mapped[str | None] = mapped_column(String(20))  # CONFIRMED_ERROR | NOT_AN_ERROR; None: waiting
    judged_by: Mapped[str | None] = mapped_column(String(320))
    judged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AgreementTotal(Base):
    """A project's agreement sums (db.agreement.ImageAgreement.sums added over its images), kept in step with every
    submission so its figures cost one read."""

    __tablename__ = "agreement_totals"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    total: Mapped[float] = mapped_column(Float, default=0.0)


class ProjectCounter(Base):
    """Denormalised counts kept in step with every write, so stats never scan a million samples.

    kind is one of: status, labeled_by, skipped_by, annotations_by, class, sample_class, labeled_day,
    accepted_by, rejected_by (db.counters says what each counts).
    """

    __tablename__ = "project_counters"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),
        Index("ix_jobs_project_id", "project_id", "id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="QUEUED")
    progress: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    run_id: Mapped[str | None] = mapped_column(String(100))  # Databricks Jobs run executing it, if submitted
    run_url: Mapped[str | None] = mapped_column(String(1024))
