//! Classification metrics (written by a helper).
