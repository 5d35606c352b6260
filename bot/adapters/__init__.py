"""Thin platform adapters: platform events → core calls → platform messages."""
