"""The contract: API models, event envelopes, enums and schedule validation. No I/O."""
