"""Announcements ("Avisos generales"): what the administrators tell everyone signed in."""
