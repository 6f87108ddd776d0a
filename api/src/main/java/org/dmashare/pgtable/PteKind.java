package org.dmashare.pgtable;

/** What a page-table entry is, as decoded by a {@link PteFormat} at a given level. */
public enum PteKind {
    /** Not valid: a walk reaching it faults. */
    INVALID,
    /** Points at the next-level table. */
    TABLE,
    /** Maps a page or block. */
    LEAF
}
