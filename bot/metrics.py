"""Prometheus metrics of the service (exposed on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter("sigap_messages_in_total", "Inbound messages stored", ["channel"])
TICKETS_OPENED = Counter("sigap_tickets_opened_total", "Tickets opened", ["emergency_type", "priority"])
TURNS = Counter("sigap_turns_total", "Messages understood, by channel and intent", ["channel", "intent"])
FIRST_MESSAGE_TO_TICKET = Histogram(
    "sigap_first_message_to_ticket_seconds", "From a contact's first message to its ticket",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
SEND_ERRORS = Counter("sigap_send_errors_total", "Failed send attempts (retried or given up), by channel",
                      ["channel"])
STATUS_CHANGES = Counter("sigap_ticket_status_total", "Ticket status changes", ["status"])
PARSE_SECONDS = Histogram(
    "sigap_nlu_parse_seconds", "NLU parse time",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
)
OUTBOX_SENT = Counter("sigap_outbox_sent_total", "Outbound messages handed to a provider", ["channel"])
OUTBOX_FAILED = Counter(
    "sigap_outbox_failed_total", "Outbound messages given up after retries", ["channel"]
)
DEADLINE_MISSED = Counter(
    "sigap_deadline_missed_total", "Incidents escalated: no movement by their deadline",
    ["region", "priority"],
)
PRANKS = Counter("sigap_pranks_total", "Messages answered as a prank or test (no hazard signal)", ["region"])
THROTTLED = Counter("sigap_throttled_replies_total", "Replies held back from a throttled sender", ["region"])
NON_EMERGENCIES = Counter(
    "sigap_non_emergencies_total", "Non-emergencies and questions about 112 answered, by where sent",
    ["region", "target"],
)
SILENT_CHATS = Counter("sigap_silent_chats_total", "Contacts of only dots, stickers or single characters",
                       ["region"])
REPEATS = Counter("sigap_repeats_collapsed_total", "The same text again from one sender, counted not stored",
                  ["region"])
CHAIN_MESSAGES = Counter("sigap_chain_messages_total", "Messages of a text many senders sent within minutes",
                         ["region"])
OUTBOX_DEPTH = Gauge("sigap_outbox_depth", "Outbound messages waiting to be sent", ["channel"])
