"""Tests of the sandbox emulators themselves."""
