"""Referral of a report to a receiving body (config/bodies.toml): the bodies and their public keys
(`bodies`), and the encrypted case bundle a body receives (`bundles`)."""
