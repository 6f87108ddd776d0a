package org.dmashare.dart;

import org.dmashare.iommu.Access;
import org.dmashare.iommu.IommuFault;

/**
 * The code bits of the DART ERROR register this model sets; which bit each sets is part of the
 * register layout's description.
 * Names follow the Linux driver; the L1 entry error is Linux's "PMD" (the NO_L1).
 *
 * <p><b>Assumptions (UNCONFIRMED):</b> one code bit is set per fault (the extra t8020 "access was
 * a write" bit 10 that m1n1 names is not modelled); a blocked stream and an IOVA beyond the walk's
 * reach report {@link #NO_TTBR}; t8110 has no known sub-page error bit, so a sub-page violation
 * there sets the access-direction protection bit ({@link #WRITE_FAULT} or {@link #READ_FAULT})
 * while the fault log still names it {@code SUBPAGE_PROT}.
 */
public enum DartErrorCode {
    /** No valid TTBR for the IOVA (bit 0 on both layouts). */
    NO_TTBR,
    /** No valid L0 entry; four-level t8110 walks only (t8110 bit 1). */
    NO_PGD,
    /** No valid L1 entry (t8020 bit 1, t8110 bit 2). */
    NO_PMD,
    /** No valid L2 entry (t8020 bit 2, t8110 bit 3). */
    NO_PTE,
    /** Write to a page with NO_WRITE (t8020 bit 3, t8110 bit 4). */
    WRITE_FAULT,
    /** Read from a page with NO_READ (t8020 bit 4, t8110 bit 5). */
    READ_FAULT,
    /** Access outside the leaf's sub-page window (t8020 bit 7; t8110: see the class comment). */
    SUBPAGE_PROT;

    /**
     * The ERROR register bit for this code on a layout.
     *
     * @param t8110 true for the t8110 register layout
     * @param access the access that faulted (picks the bit of a t8110 sub-page fault)
     * @return the bit number
     */
    public int bit(boolean t8110, Access access) {
        return layout(t8110).errors().bit(this, access);
    }

    private static DartLayout layout(boolean t8110) {
        return t8110 ? DartLayout.T8110 : DartLayout.T8020;
    }

    /**
     * The code the hardware reports for a failed access.
     *
     * @param reason why the model refused it
     * @param level the DART level that was invalid: -1 TTBR, 0 L0, 1 L1, 2 L2
     * @param access read or write
     * @return the code
     */
    public static DartErrorCode of(IommuFault.Reason reason, int level, Access access) {
        switch (reason) {
            case PERMISSION:
                return access == Access.WRITE ? WRITE_FAULT : READ_FAULT;
            case SUBPAGE:
                return SUBPAGE_PROT;
            case TRANSLATION:
                switch (level) {
                    case 0:
                        return NO_PGD;
                    case 1:
                        return NO_PMD;
                    case 2:
                        return NO_PTE;
                    default:
                        return NO_TTBR;
                }
            default:
                return NO_TTBR;
        }
    }

    /**
     * Names a code field as the Linux interrupt handler does: the name of the one known bit set,
     * else {@code unknown}.
     *
     * @param code the code bits of an ERROR value
     * @param t8110 true for the t8110 layout
     * @return the name
     */
    public static String describe(int code, boolean t8110) {
        return describe(code, layout(t8110));
    }

    /** As {@link #describe(int, boolean)}, for a layout. */
    static String describe(int code, DartLayout layout) {
        if (Integer.bitCount(code) != 1) {
            return "unknown";
        }
        DartErrorCode c = layout.errors().codeOf(Integer.numberOfTrailingZeros(code));
        return c == null ? "unknown" : c.name();
    }
}
