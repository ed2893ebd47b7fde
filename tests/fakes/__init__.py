"""Stateful fakes of services that no server here runs (Discord, Telegram), written from their
published API references: they keep what they were sent, answer as the real API answers, and
refuse what the real API refuses, so a wrong request fails a test."""
