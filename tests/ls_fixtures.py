"""Builders for hand-made Label Studio export tasks."""


def region(rid, start, end, text, label):
    return {"id": rid, "from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text, "labels": [label]}}


def relation(h, t, label, direction="right"):
    return {"from_id": h, "to_id": t, "type": "relation", "direction": direction, "labels": [label]}


def task(tid, text, *annotations, **data):
    return {"id": tid, "data": {"text": text, **data}, "annotations": list(annotations)}


def ann(aid, result, updated="2026-01-01T00:00:00Z", ground_truth=False, cancelled=False, user=1):
    return {"id": aid, "result": result, "updated_at": updated, "ground_truth": ground_truth,
            "was_cancelled": cancelled, "completed_by": user}
