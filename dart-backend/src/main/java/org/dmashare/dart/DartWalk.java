package org.dmashare.dart;

import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;

/**
 * The hardware side of a DART's translation: from one stream's TCR, stream-enable bit and the
 * TTBR the IOVA selects to a translation or a fault, as the hardware walks, never from a software
 * object. This class does the register part (blocked or bypass, TTBR choice, depth from TCR, the
 * walk's reach); the tables are walked by the shared {@link PageTableWalker}.
 *
 * <p>Holds no mutable state: the caller reads the registers under the unit lock and walks with
 * the values it read, without the lock (table memory is read lock-free, as a device does).
 */
final class DartWalk {
    /** DART walk level of a TTBR (for fault codes). */
    static final int LEVEL_TTBR = -1;

    private final DartLayout layout;
    private final PhysicalMemory memory;
    /**
     * The hardware's view of the tables at each depth TCR can select: every level, the root
     * included, indexes a full 11-bit table whatever ias the driver configured, so these are the
     * format at the full reach of two (36-bit) and three (47-bit) table levels.
     */
    private final DartPteFormat twoLevelWalk;

    private final DartPteFormat threeLevelWalk;

    DartWalk(DartLayout layout, PhysicalMemory memory, DartPteFormat format) {
        this.layout = layout;
        this.memory = memory;
        this.twoLevelWalk = format.withInputBits(36);
        this.threeLevelWalk = format.withInputBits(47);
    }

    /**
     * Translates {@code iova} with the stream's register values.
     *
     * @param tcr the stream's TCR
     * @param enabled the stream's enable bit
     * @param ttbr the TTBR {@link DartLayout.Ttbr#select} chose for the IOVA
     * @param iova the address
     * @return the translation, or the fault with the DART level that failed (-1 TTBR, 0 L0, 1 L1,
     *     2 L2)
     */
    PageTableWalker.Result walk(int tcr, boolean enabled, int ttbr, long iova) {
        DartLayout.Tcr t = layout.tcr();
        boolean translate = (tcr & t.translate()) != 0;
        boolean bypassing = (tcr & t.bypassDart()) != 0;
        if (!enabled || translate == bypassing) {
            return new PageTableWalker.Result(null, IommuFault.Reason.BLOCKED, LEVEL_TTBR);
        }
        if (bypassing) {
            return new PageTableWalker.Result(
                    new Translation(iova, iova, DartPteFormat.GRANULE, new Prot(true, true, true, false)),
                    null,
                    LEVEL_TTBR);
        }
        int levels = t.levels(tcr);
        if (iova < 0 || (iova >>> layout.ttbr().reach(levels)) != 0) {
            return new PageTableWalker.Result(null, IommuFault.Reason.ADDRESS_SIZE, LEVEL_TTBR);
        }
        long table = layout.ttbr().decode(ttbr);
        if (table < 0) {
            return new PageTableWalker.Result(null, IommuFault.Reason.TRANSLATION, LEVEL_TTBR);
        }
        // A TTBR chosen by IOVA bits 37:36 translates the 2^36 slice those bits name; a single
        // TTBR translates from 0.
        PageTableWalker.Result r = PageTableWalker.walk(
                memory,
                levels == 3 ? threeLevelWalk : twoLevelWalk,
                table,
                (long) layout.ttbr().select(iova) << 36,
                iova);
        // The walker counts levels from the root table; DART names them from the leaf table up
        // (L2 whatever the depth, L0 only in four-level walks), and its fault codes use those names.
        return r.level() < 0 ? r : new PageTableWalker.Result(r.translation(), r.reason(), r.level() + 3 - levels);
    }
}
