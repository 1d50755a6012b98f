"""Outbound messages to an address (the notification channel): what signup tells the owner of an email."""
