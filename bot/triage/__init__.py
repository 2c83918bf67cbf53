"""Triage of the centre's traffic: the noise taken off the operators (pranks, non-emergencies,
questions about 112, repeated and chain messages, silent chats), counted; never an emergency."""
