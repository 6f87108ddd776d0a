package org.dmashare.dart;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.dmashare.internal.GuardedBy;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PhysicalMemory;

/**
 * The locked-DART part of the driver: on a DART whose TTBR and TCR the firmware programmed and
 * locked, a paging domain keeps its own root table, and its valid root entries are copied into
 * the firmware's root table of each attached stream (as the Asahi driver does on attach and on
 * every IOTLB flush). Unlike Asahi, which copies the whole root table, only the domain's own
 * entries are copied, and only those are cleared again, so the firmware's mappings stay intact.
 *
 * <p>Not thread-safe: {@link DartIommu} calls it with its monitor (the unit lock) held; it reads
 * the domain's root table from memory without the table's lock, as the hardware would.
 */
final class DartLockedTables {
    private final DartRegisterFile regs;
    private final PhysicalMemory memory;
    /** Per stream, the firmware root-table indices this driver wrote. */
    @GuardedBy("DartIommu")
    private final Map<Integer, BitSet> installed = new HashMap<>();

    DartLockedTables(DartRegisterFile regs, PhysicalMemory memory) {
        this.regs = regs;
        this.memory = memory;
    }

    /**
     * Copies {@code domain}'s valid root entries into the firmware's root table of {@code sid}
     * (TTBR0) and clears the entries copied earlier that the domain no longer has. Entries the
     * firmware owns are never written.
     *
     * @param domain the attached paging domain, or null (then every copied entry is cleared)
     */
    void sync(int sid, PagingDomain domain) {
        long fwRoot = firmwareRoot(sid);
        if (fwRoot < 0) {
            return;
        }
        BitSet mine = installed.computeIfAbsent(sid, k -> new BitSet());
        long ourRoot = domain == null || domain.isClosed() ? -1 : domain.table().rootPa();
        int entries = 1 << DartPteFormat.BITS_PER_LEVEL;
        for (int i = 0; i < entries; i++) {
            long ours = ourRoot < 0 ? 0 : memory.readLong(ourRoot + 8L * i);
            long fwPa = fwRoot + 8L * i;
            if (DartPteFormat.isValid(ours)) {
                long fw = memory.readLong(fwPa);
                if (mine.get(i) || !DartPteFormat.isValid(fw)) {
                    if (fw != ours) {
                        memory.writeLong(fwPa, ours);
                    }
                    mine.set(i);
                }
            } else if (mine.get(i)) {
                memory.writeLong(fwPa, 0);
                mine.clear(i);
            }
        }
    }

    /**
     * The IOVA ranges whose root entries the firmware owns in any stream's root table, as
     * {start, end} pairs in units of one root entry of {@code rootFormat}.
     */
    List<long[]> firmwareRanges(DartPteFormat rootFormat, int streams) {
        List<long[]> out = new ArrayList<>();
        long span = 1L << rootFormat.shift(0);
        BitSet owned = new BitSet();
        for (int sid = 0; sid < streams; sid++) {
            long fwRoot = firmwareRoot(sid);
            if (fwRoot < 0) {
                continue;
            }
            BitSet mine = installed.getOrDefault(sid, new BitSet());
            for (int i = 0; i < rootFormat.entries(0); i++) {
                if (DartPteFormat.isValid(memory.readLong(fwRoot + 8L * i)) && !mine.get(i)) {
                    owned.set(i);
                }
            }
        }
        for (int i = owned.nextSetBit(0); i >= 0; i = owned.nextSetBit(owned.nextClearBit(i))) {
            int end = owned.nextClearBit(i);
            out.add(new long[] {i * span, end * span});
        }
        return out;
    }

    /** The firmware's root table of a stream (TTBR0), or -1 if none lies in memory. */
    private long firmwareRoot(int sid) {
        long root = regs.layout().ttbr().decode(regs.ttbr(sid, 0));
        return root < 0 || !memory.contains(root, DartPteFormat.GRANULE) ? -1 : root;
    }
}
