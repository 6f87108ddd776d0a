package org.dmashare.pgtable;

import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;

/** The rules of {@link PteFormat#checkGeometry(PteFormat)}, one method each. */
final class GeometryCheck {
    private GeometryCheck() {}

    static void check(PteFormat f) {
        Objects.requireNonNull(f, "format");
        int entryBytes = f.entryBytes();
        require(f, entryBytes == 4 || entryBytes == 8, "entries must be 4 or 8 bytes, got " + entryBytes);
        int levels = f.levels();
        require(f, levels >= 1 && levels <= 8, "it must have 1..8 levels, got " + levels);
        int granule = f.granuleShift();
        require(f, granule >= 10 && granule <= 30, "the granule must be 2^10..2^30 bytes, got 2^" + granule);
        require(
                f,
                f.inputBits() >= 12 && f.inputBits() <= 64,
                "the input width must be 12..64 bits, got " + f.inputBits());
        require(
                f,
                f.outputBits() >= 12 && f.outputBits() <= 64,
                "the output width must be 12..64 bits, got " + f.outputBits());
        int start = f.startLevel();
        require(f, start >= 0 && start < levels, "the start level must be 0.." + (levels - 1) + ", got " + start);
        checkTables(f, levels, entryBytes);
        require(
                f,
                f.shift(levels - 1) == granule,
                "an entry of the last level covers " + Hex.size(1L << f.shift(levels - 1)) + " but the granule is "
                        + Hex.size(1L << granule));
        checkLeafSizes(f, levels);
        checkOutputReach(f, levels);
    }

    private static void checkTables(PteFormat f, int levels, int entryBytes) {
        for (int l = 0; l < levels; l++) {
            int n = f.entries(l);
            require(
                    f,
                    n >= 1 && Integer.bitCount(n) == 1,
                    "level " + l + " must have a power-of-two entry count, got " + n);
            long bytes = f.tableBytes(l);
            long needed = (long) n * entryBytes;
            require(
                    f,
                    bytes >= needed && Long.bitCount(bytes) == 1,
                    "a level-" + l + " table of " + n + " entries of "
                            + entryBytes + " bytes needs " + Hex.size(needed) + " but tableBytes(" + l + ") is "
                            + Hex.of(bytes) + "; it must be a power of two at least that large");
            int shift = f.shift(l);
            require(f, shift >= 0 && shift < 64, "level " + l + " entries must cover 2^0..2^63 bytes, got 2^" + shift);
            if (l > 0) {
                int covers = shift + Integer.numberOfTrailingZeros(n);
                require(
                        f,
                        covers == f.shift(l - 1),
                        "a level-" + l + " table of " + n + " entries of "
                                + Hex.size(1L << shift) + " covers 2^" + covers + " bytes, but one level-" + (l - 1)
                                + " entry points at it and covers 2^" + f.shift(l - 1));
            }
        }
        int topReach = f.shift(0) + Integer.numberOfTrailingZeros(f.entries(0));
        require(
                f,
                topReach >= f.inputBits(),
                "the level-0 table of " + f.entries(0) + " entries reaches 2^" + topReach
                        + " bytes of IOVA, less than the " + f.inputBits()
                        + "-bit input width; IOVAs above would alias");
    }

    private static void checkLeafSizes(PteFormat f, int levels) {
        long all = 0;
        long advertised = f.pageSizes();
        for (int l = 0; l < levels; l++) {
            long sizes = f.leafSizes(l);
            require(
                    f,
                    (sizes & ~advertised) == 0,
                    "level " + l + " holds leaf sizes " + Hex.of(sizes) + " not all in pageSizes() "
                            + Hex.of(advertised));
            for (long rest = sizes; rest != 0; rest &= rest - 1) {
                long size = Long.lowestOneBit(rest);
                long entrySize = 1L << f.shift(l);
                require(
                        f,
                        Long.compareUnsigned(size, entrySize) >= 0 && size / entrySize <= f.entries(l),
                        "a " + Hex.size(size) + " leaf at level " + l + " must span 1.." + f.entries(l) + " entries of "
                                + Hex.size(entrySize));
            }
            all |= sizes;
        }
        require(
                f,
                (advertised & (1L << f.granuleShift())) != 0,
                "pageSizes() " + Hex.of(advertised) + " must include the granule " + Hex.size(1L << f.granuleShift()));
        require(
                f,
                (advertised & ~all) == 0,
                "pageSizes() " + Hex.of(advertised) + " advertises " + Hex.of(advertised & ~all)
                        + " that no level can produce; the levels hold " + Hex.of(all));
    }

    private static void checkOutputReach(PteFormat f, int levels) {
        int out = f.outputBits();
        long limit = out >= 63 ? Long.MAX_VALUE : (1L << out) - 1; // highest output address
        for (int l = 0; l < levels; l++) {
            for (long rest = f.leafSizes(l); rest != 0; rest &= rest - 1) {
                long size = Long.lowestOneBit(rest);
                require(
                        f,
                        size > 0 && size - 1 <= limit,
                        "a " + Hex.size(size) + " leaf does not fit the " + out + "-bit output width");
                long pa = limit & -size;
                long pte = f.encodeLeaf(pa, size, Prot.READ_WRITE, l);
                boolean ok = f.kind(pte, l) == PteKind.LEAF
                        && f.leafSize(pte, l) == size
                        && f.outputAddress(pte, l, 0) == pa;
                require(
                        f,
                        ok,
                        "a " + Hex.size(size) + " leaf at level " + l + " for output address " + Hex.of(pa)
                                + " (the highest below the " + out + "-bit output width) encodes as " + Hex.of(pte)
                                + ", which decodes as " + f.kind(pte, l)
                                + (f.kind(pte, l) == PteKind.LEAF
                                        ? " of " + Hex.size(f.leafSize(pte, l)) + " at "
                                                + Hex.of(f.outputAddress(pte, l, 0))
                                        : ""));
            }
            if (l + 1 < levels) {
                long tableBytes = f.tableBytes(l + 1);
                long pa = limit & -tableBytes;
                long pte = f.encodeTable(pa, l);
                require(
                        f,
                        f.kind(pte, l) == PteKind.TABLE && f.address(pte, l) == pa,
                        "a level-" + l
                                + " pointer to a table at " + Hex.of(pa) + " (the highest below the " + out
                                + "-bit output width) encodes as " + Hex.of(pte) + ", which decodes as "
                                + f.kind(pte, l));
            }
        }
    }

    private static void require(PteFormat f, boolean ok, String what) {
        if (!ok) {
            throw new InvalidArgumentException("page-table format " + f + " refused: " + what);
        }
    }
}
