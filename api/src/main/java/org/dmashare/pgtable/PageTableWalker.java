package org.dmashare.pgtable;

import java.util.ArrayList;
import java.util.List;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PhysicalMemory;

/**
 * The hardware side of a page table: walks the tables stored in {@link PhysicalMemory} from a root
 * address, reading each entry back from memory and decoding it with the {@link PteFormat}
 * (including the leaf's sub-page access window, if the format has one). It
 * shares no state with the software side that built the tables, so a test that checks
 * translations through it checks what a device would see.
 */
public final class PageTableWalker {
    private PageTableWalker() {}

    /**
     * The outcome of one walk: a translation, or the level and reason at which it faulted.
     *
     * @param translation the translation, or null on a fault
     * @param reason why the walk faulted, or null on success
     * @param level the level of the entry that was invalid (or -1 for an address-size fault)
     */
    public record Result(Translation translation, IommuFault.Reason reason, int level) {
        /**
         * Whether the walk reached a leaf.
         *
         * @return true if {@link #translation()} is set
         */
        public boolean ok() {
            return translation != null;
        }
    }

    /**
     * Walks the tables rooted at {@code rootPa} for {@code iova}.
     *
     * @param memory where the tables live
     * @param format how to decode them
     * @param rootPa physical address of the root table
     * @param iova the address to translate
     * @return the translation, or where and why the walk stopped
     */
    public static Result walk(PhysicalMemory memory, PteFormat format, long rootPa, long iova) {
        return walk(memory, format, rootPa, 0, iova);
    }

    /**
     * Walks tables that translate one slice {@code [base, base + 2^inputBits)} of the IOVA space,
     * for hardware where the bits above the tables' reach choose among several roots (Apple DART
     * on the t8020 layout: IOVA bits 37:36 choose one of four TTBRs). The tables are indexed by
     * the IOVA's offset in the slice; the translation is of {@code iova} itself. IOVAs outside
     * the slice fault with {@link IommuFault.Reason#ADDRESS_SIZE}.
     *
     * @param memory where the tables live
     * @param format how to decode them
     * @param rootPa physical address of the root table
     * @param base first IOVA of the slice, a multiple of {@code 2^format.inputBits()}
     * @param iova the address to translate
     * @return the translation, or where and why the walk stopped
     */
    public static Result walk(PhysicalMemory memory, PteFormat format, long rootPa, long base, long iova) {
        return walk(memory, format, rootPa, 0, base, iova);
    }

    /**
     * Walks tables whose top is at {@code topLevel} (a growing top, as an AMD-Vi device-table
     * entry's mode selects: the walk starts at level {@code levels() - mode}). IOVAs beyond what
     * that top translates fault with {@link IommuFault.Reason#ADDRESS_SIZE}, as do IOVAs at or
     * above {@code 2^inputBits}.
     *
     * @param memory where the tables live
     * @param format how to decode them
     * @param rootPa physical address of the top table
     * @param topLevel the top table's level, 0 .. levels()-1
     * @param iova the address to translate
     * @return the translation, or where and why the walk stopped
     * @throws IllegalArgumentException if {@code topLevel} is not a level of the format
     */
    public static Result walkFrom(PhysicalMemory memory, PteFormat format, long rootPa, int topLevel, long iova) {
        if (topLevel < 0 || topLevel >= format.levels()) {
            throw new IllegalArgumentException("level " + topLevel + " is not a level of " + format);
        }
        return walk(memory, format, rootPa, topLevel, 0, iova);
    }

    private static Result walk(
            PhysicalMemory memory, PteFormat format, long rootPa, int topLevel, long base, long iova) {
        long offset = iova - base;
        int reach = format.shift(topLevel) + Integer.numberOfTrailingZeros(format.entries(topLevel));
        int bits = Math.min(format.inputBits(), reach);
        if (offset < 0 || (bits < 64 && (offset >>> bits) != 0)) {
            return new Result(null, IommuFault.Reason.ADDRESS_SIZE, -1);
        }
        int entryBytes = format.entryBytes();
        long table = rootPa;
        for (int level = topLevel; level < format.levels(); level++) {
            long entryPa = table + (long) entryBytes * format.index(offset, level);
            if (!memory.contains(entryPa, entryBytes)) {
                return new Result(null, IommuFault.Reason.TRANSLATION, level);
            }
            long pte = read(memory, entryBytes, entryPa);
            PteKind kind = format.kind(pte, level);
            if (kind == PteKind.INVALID || (kind == PteKind.LEAF && !format.leafAllowed(level))) {
                return new Result(null, IommuFault.Reason.TRANSLATION, level);
            }
            if (kind == PteKind.LEAF) {
                long size = format.leafSize(pte, level);
                if ((format.leafSizes(level) & size) == 0 || Long.bitCount(size) != 1) {
                    return new Result(null, IommuFault.Reason.TRANSLATION, level); // a size this level cannot hold
                }
                long pa = format.outputAddress(pte, level, offset);
                long leaf = iova & -size;
                return new Result(
                        new Translation(
                                iova,
                                pa,
                                size,
                                format.prot(pte, level),
                                leaf + format.windowStart(pte, level),
                                leaf + format.windowEnd(pte, level)),
                        null,
                        level);
            }
            if (level == format.levels() - 1) {
                return new Result(null, IommuFault.Reason.TRANSLATION, level);
            }
            table = format.address(pte, level);
        }
        return new Result(null, IommuFault.Reason.TRANSLATION, format.levels() - 1);
    }

    static long read(PhysicalMemory memory, int entryBytes, long pa) {
        return entryBytes == 8 ? memory.readLong(pa) : memory.readInt(pa) & 0xFFFF_FFFFL;
    }

    /**
     * Lists every valid leaf reachable from {@code rootPa}, in IOVA order, by reading the tables
     * from memory: everything a device attached to these tables can reach. Used for exposure
     * reports and dumps. A leaf spanning several entries is listed once, at its full size.
     *
     * @param memory where the tables live
     * @param format how to decode them
     * @param rootPa physical address of the root table
     * @return one translation per leaf: its first IOVA, output address, size, rights and the
     *     sub-page window a device may access
     */
    public static List<Translation> leaves(PhysicalMemory memory, PteFormat format, long rootPa) {
        return leaves(memory, format, rootPa, 0);
    }

    /**
     * Lists every valid leaf reachable from a top table at {@code topLevel}, as
     * {@link #leaves(PhysicalMemory, PteFormat, long)} does from level 0.
     *
     * @param memory where the tables live
     * @param format how to decode them
     * @param rootPa physical address of the top table
     * @param topLevel its level
     * @return one translation per leaf, in IOVA order
     */
    public static List<Translation> leaves(PhysicalMemory memory, PteFormat format, long rootPa, int topLevel) {
        List<Translation> out = new ArrayList<>();
        collect(memory, format, rootPa, topLevel, 0, out);
        return out;
    }

    private static void collect(
            PhysicalMemory memory, PteFormat format, long table, int level, long base, List<Translation> out) {
        int shift = format.shift(level);
        int entryBytes = format.entryBytes();
        int i = 0;
        while (i < format.entries(level)) {
            long entryPa = table + (long) entryBytes * i;
            if (!memory.contains(entryPa, entryBytes)) {
                return;
            }
            long pte = read(memory, entryBytes, entryPa);
            PteKind kind = format.kind(pte, level);
            long iova = base + ((long) i << shift);
            if (kind == PteKind.LEAF && format.leafAllowed(level)) {
                long size = format.leafSize(pte, level);
                long start = iova & -size;
                out.add(new Translation(
                        start,
                        format.outputAddress(pte, level, start),
                        size,
                        format.prot(pte, level),
                        start + format.windowStart(pte, level),
                        start + format.windowEnd(pte, level)));
                i = (int) ((start + size - base) >>> shift);
                continue;
            } else if (kind == PteKind.TABLE && level + 1 < format.levels()) {
                collect(memory, format, format.address(pte, level), level + 1, iova, out);
            }
            i++;
        }
    }
}
