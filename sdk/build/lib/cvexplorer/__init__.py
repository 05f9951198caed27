"""CV Explorer's Python client: `cvx = cvexplorer.Client(url, token=...)`, its async twin AsyncClient, the types it
returns and the errors it raises. The command line is `cvexplorer` (cvexplorer.cli)."""

from cvexplorer.client import AsyncClient, Client
from cvexplorer.errors import (
    Conflict,
    CvxError,
    Forbidden,
    JobFailed,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    ValidationError,
)
from cvexplorer.models import Annotation, Box, Job, Project, ProjectStats, Sample

__version__ = "0.1.0"
__all__ = ["Annotation", "AsyncClient", "Box", "Client", "Conflict", "CvxError", "Forbidden", "Job", "JobFailed",
           "NotFound", "Project", "ProjectStats", "Sample", "TooLarge", "Unauthenticated", "Unavailable",
           "ValidationError"]
