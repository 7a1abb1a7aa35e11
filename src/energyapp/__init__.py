"""EnergyApp LLM: a private chat platform over a local Ollama model."""

__version__ = "0.1.0"
