"""The conversation engine: Rasa domain, rules, forms, tracker, responses, guidance."""
