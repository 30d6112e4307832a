"""Deciding comments: policy, rules, and the batch pipeline that turns stream entries
into stored decisions."""
