"""File formats users bring and take: battle-format votes, import manifests, public boards, export."""
