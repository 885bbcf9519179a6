//! Charts (written by a helper).
