"""Messages to reporters: the outbox, reminders, status notices."""
