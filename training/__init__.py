"""Offline scripts: model export, export checks and evaluation (need the export/train extras)."""
