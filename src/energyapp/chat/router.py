"""HTTP routes of the chat domain (filled in by its issue)."""

from fastapi import APIRouter

router = APIRouter()
