package org.dmashare.pgtable;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.internal.LongObjectMap;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/**
 * The software side of one radix page table: builds and edits tables stored in
 * {@link PhysicalMemory}, in the bit layout of a {@link PteFormat}. Table pages come from the
 * memory's page allocator ({@link PageUse#PAGE_TABLE}); a table whose last entry is cleared is
 * freed at once, so after unmapping everything only the root remains, and {@link #close()} frees
 * that too.
 *
 * <p>Semantics follow io-pgtable: map uses the largest leaf that alignment and length allow at
 * each step and refuses to overwrite any valid entry; unmap must cover whole leaves (Linux 6.13
 * and later). Every failing call changes nothing: a map that fails halfway (a table page cannot be
 * allocated) removes what it installed and frees the tables it created. Thread-safe.
 */
public final class IoPageTable implements AutoCloseable {

    private static final class Table {
        final long pa;
        final int level;
        final long parentEntry; // physical address of the entry pointing here, -1 for the root
        final Table parent;
        int valid;

        Table(long pa, int level, long parentEntry, Table parent) {
            this.pa = pa;
            this.level = level;
            this.parentEntry = parentEntry;
            this.parent = parent;
        }
    }

    private final PhysicalMemory memory;
    private final PteFormat format;
    private final long tableBytes;
    /** Every table page, by physical address; primitive keys because every walk step looks one up. */
    private final LongObjectMap<Table> tables = new LongObjectMap<>();
    /**
     * The format's per-level geometry, read once: {@link PteFormat}'s shift, entries and index are
     * default methods that recompute from several interface calls, and every walk step used them.
     */
    private final int[] shifts;
    private final int[] entries;
    private final boolean[] leafAllowed;
    private final Table root;
    private boolean closed;
    /** Leaf entries of one run, encoded before they are stored; grows up to a table's entries. */
    private long[] scratch = new long[16];

    /**
     * Creates an empty table: allocates and zeroes the root.
     *
     * @param memory where tables live and what leaves point into
     * @param format the entry format
     * @throws PhysicalMemoryExhaustedException if the root page cannot be allocated
     */
    public IoPageTable(PhysicalMemory memory, PteFormat format) {
        this.memory = Objects.requireNonNull(memory, "memory");
        this.format = Objects.requireNonNull(format, "format");
        this.tableBytes = Math.max(1L << format.granuleShift(), memory.pageSize());
        int levels = format.levels();
        this.shifts = new int[levels];
        this.entries = new int[levels];
        this.leafAllowed = new boolean[levels];
        for (int l = 0; l < levels; l++) {
            shifts[l] = format.shift(l);
            entries[l] = format.entries(l);
            leafAllowed[l] = format.leafAllowed(l);
        }
        this.root = newTable(0, -1, null);
    }

    /**
     * The format of the entries.
     *
     * @return the format
     */
    public PteFormat format() {
        return format;
    }

    /**
     * Physical address of the root table, what a translation base register points at.
     *
     * @return the root's address
     */
    public long rootPa() {
        return root.pa;
    }

    /**
     * Bytes allocated for each table page: the granule, or the CPU page size if larger.
     *
     * @return the table page size
     */
    public long tablePageBytes() {
        return tableBytes;
    }

    /**
     * Physical addresses of every table page, root first; none once closed.
     *
     * @return an immutable list, empty after {@link #close()}
     */
    public synchronized List<Long> tablePages() {
        if (closed) {
            return List.of();
        }
        List<Long> rest = new ArrayList<>(tables.size());
        tables.forEachValue(t -> {
            if (t != root) {
                rest.add(t.pa);
            }
        });
        rest.sort(null); // by address, so the list does not depend on the map's layout
        List<Long> out = new ArrayList<>(tables.size());
        out.add(root.pa);
        out.addAll(rest);
        return List.copyOf(out);
    }

    /**
     * Maps {@code [iova, iova + size)} to {@code [pa, pa + size)} with the largest leaves possible.
     *
     * @param iova first IOVA, granule-aligned, below 2^inputBits
     * @param pa first physical address, granule-aligned, inside memory and below 2^outputBits
     * @param size bytes, a positive multiple of the granule
     * @param prot rights
     * @throws InvalidArgumentException if an argument is misaligned or out of range
     * @throws MappingConflictException if part of the range is mapped (or an injected map failure
     *     fires)
     * @throws PhysicalMemoryExhaustedException if a table page cannot be allocated
     */
    public synchronized void map(long iova, long pa, long size, Prot prot) {
        Objects.requireNonNull(prot, "prot");
        checkOpen();
        long granule = 1L << format.granuleShift();
        checkIovaRange("map", iova, size, granule);
        if ((pa & (granule - 1)) != 0 || !memory.contains(pa, size)
                || (format.outputBits() < 64 && ((pa + size - 1) >>> format.outputBits()) != 0)) {
            throw new InvalidArgumentException("map of IOVA " + Hex.range(iova, size) + " to physical "
                    + Hex.range(pa, size) + " refused: the physical range must be aligned to the granule "
                    + Hex.size(granule) + ", inside memory " + Hex.range(memory.base(), memory.size())
                    + " and below the " + format.outputBits() + "-bit output size");
        }
        format.checkProt(prot);
        memory.failures().check(FailureInjector.Point.MAP);
        Leaf clash = firstLeaf(root, iova, iova + size, false);
        if (clash != null) {
            throw new MappingConflictException("map of IOVA " + Hex.range(iova, size) + " refused: IOVA "
                    + Hex.of(Math.max(clash.start(), iova)) + " is already mapped; unmap it first");
        }
        List<Table> created = new ArrayList<>(2); // a map rarely creates more than a couple of tables
        long done = 0;
        try {
            while (done < size) {
                done += mapRun(iova + done, pa + done, size - done, prot, created);
            }
        } catch (RuntimeException e) {
            clear(root, iova, iova + done);
            for (int i = created.size() - 1; i >= 0; i--) {
                Table t = created.get(i);
                if (tables.containsKey(t.pa) && t.valid == 0) {
                    releaseTable(t);
                }
            }
            throw e;
        }
    }

    /**
     * Unmaps every leaf in {@code [iova, iova + size)}; the range must cover whole leaves.
     *
     * @param iova first IOVA, granule-aligned
     * @param size bytes, a positive multiple of the granule
     * @return bytes that were mapped and no longer are
     * @throws InvalidArgumentException if an argument is misaligned or out of range
     * @throws MappingConflictException if a leaf sticks out of the range; nothing is changed
     */
    public synchronized long unmap(long iova, long size) {
        checkOpen();
        long granule = 1L << format.granuleShift();
        checkIovaRange("unmap", iova, size, granule);
        Leaf cutLeaf = firstLeaf(root, iova, iova + size, true);
        String cut = cutLeaf == null ? null : "the " + Hex.size(cutLeaf.span()) + " mapping at IOVA "
                + Hex.range(cutLeaf.start(), cutLeaf.span()) + " sticks out of it";
        if (cut != null) {
            throw new MappingConflictException("unmap of IOVA " + Hex.range(iova, size) + " refused: " + cut
                    + "; unmap must cover whole mappings");
        }
        return clear(root, iova, iova + size);
    }

    /**
     * Translates {@code iova} by reading the tables (software view, as io-pgtable's iova_to_phys).
     *
     * @param iova any address
     * @return the physical address, or -1 if unmapped
     */
    public synchronized long iovaToPhys(long iova) {
        if (closed) {
            return -1;
        }
        PageTableWalker.Result r = PageTableWalker.walk(memory, format, root.pa, iova);
        return r.ok() ? r.translation().pa() : -1;
    }

    /**
     * Frees every table page, root included. Leaves are dropped. Closing twice is harmless.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        tables.forEachValue(t -> {
            memory.fill(t.pa, tableBytes, (byte) 0);
            memory.allocator().free(t.pa, tableBytes);
        });
        tables.clear();
    }

    /**
     * The lock every method of this table holds for the whole call (this object's monitor). A
     * caller that must make several calls and its own accesses to the entries in memory one
     * atomic step holds it around them (the methods re-enter it); while it is held the table
     * takes only the page allocator's lock. It nests inside the caller's buffer and
     * identical-IOVA locks and outside the unit and IOTLB locks.
     *
     * @return the lock to synchronize on
     */
    public Object lock() {
        return this;
    }

    /**
     * Whether {@link #close()} was called.
     *
     * @return true once closed
     */
    public synchronized boolean isClosed() {
        return closed;
    }

    // ---- internals ----

    private void checkOpen() {
        if (closed) {
            throw new ObjectClosedException("page table " + Hex.of(root.pa) + " is closed");
        }
    }

    private void checkIovaRange(String op, long iova, long size, long granule) {
        long limit = format.inputBits() >= 63 ? Long.MAX_VALUE : 1L << format.inputBits();
        if (size <= 0 || (size & (granule - 1)) != 0 || (iova & (granule - 1)) != 0 || iova < 0
                || iova > limit - size) {
            throw new InvalidArgumentException(op + " of IOVA " + Hex.of(iova) + " size " + Hex.of(size)
                    + " refused: IOVA and size must be positive multiples of the granule " + Hex.size(granule)
                    + " inside the " + format.inputBits() + "-bit input range " + Hex.range(0, limit));
        }
    }

    private Table newTable(int level, long parentEntry, Table parent) {
        long pa = memory.allocator().allocate(tableBytes, PageUse.PAGE_TABLE);
        memory.fill(pa, tableBytes, (byte) 0);
        Table t = new Table(pa, level, parentEntry, parent);
        tables.put(pa, t);
        return t;
    }

    private void releaseTable(Table t) {
        memory.writeLong(t.parentEntry, 0);
        t.parent.valid--;
        tables.remove(t.pa);
        memory.allocator().free(t.pa, tableBytes);
    }

    /** Maps a run of equal leaves inside one table; returns the bytes mapped. */
    private long mapRun(long iova, long pa, long remaining, Prot prot, List<Table> created) {
        int level = 0;
        while (true) {
            if (leafAllowed[level]) {
                long leaf = 1L << shifts[level];
                if (((iova | pa) & (leaf - 1)) == 0 && remaining >= leaf) {
                    break;
                }
            }
            level++;
        }
        Table table = root;
        for (int l = 0; l < level; l++) {
            long entryPa = table.pa + 8L * index(iova, l);
            long pte = memory.readLong(entryPa);
            if (format.kind(pte, l) == PteKind.TABLE) {
                table = tables.get(format.address(pte, l));
            } else {
                Table child = newTable(l + 1, entryPa, table);
                created.add(child);
                memory.writeLong(entryPa, format.encodeTable(child.pa, l));
                table.valid++;
                table = child;
            }
        }
        long leaf = 1L << shifts[level];
        int first = index(iova, level);
        int room = entries[level] - first;
        long count = Math.min(room, remaining / leaf);
        // Encode the run into a scratch array, then store it with one bounds check and one frame
        // lookup per 4 KiB (bulk mapping writes hundreds of thousands of leaves).
        int n = (int) count;
        if (scratch.length < n) {
            scratch = new long[Math.max(n, Math.min(2 * scratch.length, entries[level]))];
        }
        for (int i = 0; i < n; i++) {
            scratch[i] = format.encodeLeaf(pa + i * leaf, prot, level);
        }
        memory.writeLongs(table.pa + 8L * first, scratch, 0, n);
        table.valid += n;
        return count * leaf;
    }

    /** A leaf found by {@link #firstLeaf}: its first IOVA and the bytes it maps. */
    private record Leaf(long start, long span) {
    }

    /**
     * The first leaf under {@code t} that overlaps {@code [from, to)} — or, with
     * {@code stickingOut}, the first that also reaches outside it (a cut) — or null. Map uses it
     * to refuse overwriting, unmap to refuse cutting a mapping.
     */
    private Leaf firstLeaf(Table t, long from, long to, boolean stickingOut) {
        int level = t.level;
        long span = 1L << shifts[level];
        long base = tableBase(from, level);
        for (int i = index(from, level); i < entries[level]; i++) {
            long start = base + (long) i * span;
            if (start >= to) {
                break;
            }
            long pte = memory.readLong(t.pa + 8L * i);
            PteKind kind = format.kind(pte, level);
            if (kind == PteKind.LEAF && (!stickingOut || start < from || start + span > to)) {
                return new Leaf(start, span);
            }
            if (kind == PteKind.TABLE && level + 1 < format.levels()) {
                Leaf hit = firstLeaf(tables.get(format.address(pte, level)), Math.max(start, from),
                        Math.min(start + span, to), stickingOut);
                if (hit != null) {
                    return hit;
                }
            }
        }
        return null;
    }

    /** Clears the leaves inside [from, to) under {@code t}, freeing emptied tables; returns bytes. */
    private long clear(Table t, long from, long to) {
        if (from >= to) {
            return 0;
        }
        int level = t.level;
        long span = 1L << shifts[level];
        long base = tableBase(from, level);
        long bytes = 0;
        for (int i = index(from, level); i < entries[level]; i++) {
            long start = base + (long) i * span;
            if (start >= to) {
                break;
            }
            long entryPa = t.pa + 8L * i;
            long pte = memory.readLong(entryPa);
            PteKind kind = format.kind(pte, level);
            if (kind == PteKind.LEAF && start >= from && start + span <= to) {
                memory.writeLong(entryPa, 0);
                t.valid--;
                bytes += span;
            } else if (kind == PteKind.TABLE && level + 1 < format.levels()) {
                Table child = tables.get(format.address(pte, level));
                bytes += clear(child, Math.max(start, from), Math.min(start + span, to));
                if (child.valid == 0) {
                    releaseTable(child);
                }
            }
        }
        return bytes;
    }

    /** The entry of the level-{@code level} table that translates {@code iova}. */
    private int index(long iova, int level) {
        return (int) ((iova >>> shifts[level]) & (entries[level] - 1));
    }

    /** The first IOVA covered by the table at {@code level} that contains {@code iova}. */
    private long tableBase(long iova, int level) {
        int bits = shifts[level] + Integer.numberOfTrailingZeros(entries[level]);
        return bits >= 63 ? 0 : iova & -(1L << bits);
    }

    @Override
    public synchronized String toString() {
        return "IoPageTable[root " + Hex.of(root.pa) + ", " + tables.size() + " table pages]";
    }
}
