"""Loads the HIL plugin (hil_tests/plugin.py) for the scenarios in this folder."""

from hil_tests.plugin import hil_target, pytest_addoption, start_node, uplinks

__all__ = ["hil_target", "pytest_addoption", "start_node", "uplinks"]
