"""Placeholder until the notifications module lands (being written now)."""


def promotion_event(event: str, request_id: int) -> None:
    return None
