package org.dmashare.pgtable;

/**
 * How a format's unmap treats a leaf that the requested range does not cover whole. Linux's
 * formats differ here; each {@link PteFormat} declares the one its Linux code follows, and the
 * conformance kit checks the declared one.
 */
public enum UnmapPolicy {
    /**
     * A range that starts or ends inside a leaf is refused and nothing changes (io-pgtable-arm
     * and io-pgtable-arm-v7s since Linux 6.13, Apple DART).
     */
    REFUSE_CUT,
    /**
     * A leaf whose first byte is inside the range is removed whole and counted at its full size,
     * even if it ends beyond the range; a range that starts inside a leaf is refused and nothing
     * changes (AMD-Vi v1 in Linux's generic page-table code, whose kunit test_unmap_split expects
     * it).
     */
    WHOLE_ENTRY_FROM_START
}
