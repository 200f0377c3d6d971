"""Importers: results of other evaluation tools as qmr runs."""
