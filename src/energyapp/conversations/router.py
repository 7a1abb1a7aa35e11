"""HTTP routes of the conversations domain (filled in by its issue)."""

from fastapi import APIRouter

router = APIRouter()
