package org.dmashare.pgtable;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
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
 * {@link PhysicalMemory}, in the bit layout of a {@link PteFormat}. Tables come from the memory's
 * page allocator ({@link PageUse#PAGE_TABLE}); tables smaller than the granule are pieces of CPU
 * pages cut by a sub-page allocator, see {@link PteFormat#tableBytes(int)}. When an unmap frees
 * a table is the format's {@link PteFormat#tableLifetime()}, as in its Linux code: never (tables
 * live until {@link #close()}), or when one unmap covers the whole block or whole range the
 * table stands for; an unmap that only empties a table keeps it. {@link #close()} frees every
 * table, top included.
 *
 * <p>Semantics follow io-pgtable: map uses the largest page size of {@link PteFormat#pageSizes()}
 * that alignment and length allow at each step (a size spanning several entries is written to all
 * of them) and refuses to overwrite any leaf — including one below a table pointer a larger leaf
 * would replace, which Linux's v7s code silently frees with what it maps; a table that maps
 * nothing (kept by the lifetime) is replaced by the larger leaf and freed with the tables below
 * it, as io-pgtable-arm, io-pgtable-arm-v7s and the generic page-table code do. Unmap follows the
 * format's {@link PteFormat#unmapPolicy()}. Every failing call changes nothing: a map that fails
 * halfway (a table cannot be allocated) removes what it installed, frees the tables it created,
 * puts back the empty tables it replaced and takes back a top it grew.
 *
 * <p>A format with a growing top ({@link PteFormat#startLevel()} above 0) starts with its top at
 * the start level; a map that needs a higher IOVA or a leaf above the top first installs new top
 * tables, each pointing at the previous top through entry 0, publishes the new top (readable
 * without the lock through {@link #rootPa()} and {@link #topLevel()}) and tells the
 * {@link TopListener} so that the unit reprograms its root. The top never shrinks, except when the
 * map that grew it fails.
 *
 * <p>Thread-safe, with range locking left to the caller as in Linux's io-pgtable: concurrent
 * {@link #map} and {@link #unmap} calls on <em>disjoint</em> IOVA ranges are safe and, on the
 * common path, take no lock. A map whose tables are all in place stores its leaves into one
 * table after reserving them in that table's entry count with a compare-and-swap; an unmap
 * that removes whole leaves of one table, and frees no table, clears them and gives the count
 * back. Everything else (creating, replacing or freeing a table, growing the top, refusing a
 * conflicting or misaligned request) runs under this object's monitor, {@link #lock()}. A table
 * is freed only after its count is swapped from what the monitor's holder expects to a dead
 * mark, so a lock-free map that reserved entries in it first keeps it alive (a failed map then
 * leaves that table in place, as Linux never frees a table on a failed map), and one that comes
 * later sees the mark and takes the monitor. Concurrent calls on overlapping ranges, or
 * {@link #close()} during a call, are the caller's error, as in Linux.
 */
public final class IoPageTable implements AutoCloseable {

    /**
     * Cache-line padding below {@link Table#valid}: threads on different tables update their
     * counts with atomic instructions, and the garbage collector copies tables next to each other;
     * without padding two tables' counts would share a cache line and two threads mapping into
     * different tables of one domain would run at a fifth of one thread's speed. HotSpot lays out a
     * superclass's fields first, so the padding lives in superclasses; each starts with an int so
     * that no 4-byte hole is left for a later field to be placed in (JDK 15's field layout fills
     * such holes with subclass fields).
     */
    @SuppressWarnings("unused")
    private abstract static class PadBelow {
        int p0;
        long p1, p2, p3, p4, p5, p6, p7, p8;
    }

    private abstract static class Count extends PadBelow {
        /**
         * Valid entries, leaves and table pointers, plus the entries lock-free maps have reserved
         * and not yet stored; {@link #DEAD} once the table is being freed. Changed only through
         * {@link #VALID}.
         */
        volatile int valid;
    }

    /** Cache-line padding above {@link Count#valid}; see {@link PadBelow}. */
    @SuppressWarnings("unused")
    private abstract static class PadAbove extends Count {
        int q0;
        long q1, q2, q3, q4, q5, q6, q7, q8;
    }

    private static final class Table extends PadAbove {
        final long pa;
        final int level;
        /**
         * The table each entry points to (null for a leaf or an empty entry), published after the
         * entry is stored in memory and withdrawn before it changes, so that a lock-free map
         * finds a table without a map lookup; null at the last level. Written under the lock; every
         * walk, locked or not, goes down through it.
         */
        final Table[] children;

        long parentEntry; // physical address of the entry pointing here, -1 for the top (lock)
        Table parent; // (lock)

        Table(long pa, int level, long parentEntry, Table parent, int entries, boolean last) {
            this.pa = pa;
            this.level = level;
            this.parentEntry = parentEntry;
            this.parent = parent;
            this.children = last ? null : new Table[entries];
        }
    }

    /** A table's count once it is being freed: lock-free maps that see it take the lock. */
    private static final int DEAD = Integer.MIN_VALUE;

    private static final VarHandle VALID;
    private static final VarHandle CHILD = MethodHandles.arrayElementVarHandle(Table[].class);

    static {
        try {
            VALID = MethodHandles.lookup().findVarHandle(Count.class, "valid", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Per-thread buffers for encoding a run of leaves before it is stored. */
    private static final class Scratch {
        /** Leaf entries of one run; grows up to a table's entries. */
        long[] longs = new long[16];
        /** The run narrowed to 32 bits for formats with 4-byte entries. */
        int[] ints = new int[16];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * Runs up to this many entries are stored one by one: the common one-page map needs no
     * scratch array (whose lookup costs more than the stores it saves).
     */
    private static final int SHORT_RUN = 8;

    private final PhysicalMemory memory;
    private final PteFormat format;
    private final TopListener topListener;
    private final TableMemory tableMemory;
    private final long tableBytes;
    private final int entryBytes;
    /** Every table, by physical address (guarded by this); every walk step looks one up. */
    private final LongObjectMap<Table> tables = new LongObjectMap<>();
    /**
     * The format's per-level geometry, read once: {@link PteFormat}'s shift, entries and index are
     * default methods that recompute from several interface calls, and every walk step used them.
     */
    private final int[] shifts;

    private final int[] entries;
    private final long[] levelTableBytes;
    /** For each bit n of the page-size bitmap, the level whose leaves of 2^n bytes map uses. */
    private final int[] levelOfSize = new int[64];

    private final long pageSizes;
    private final boolean sameAddress;
    private final UnmapPolicy unmapPolicy;
    private final TableLifetime lifetime;
    /** The top table; written under this object's lock, read without it by {@link #rootPa()}. */
    private volatile Table root;
    /** Written under this object's lock; read without it by the lock-free paths. */
    private volatile boolean closed;
    /**
     * Empty tables the running map replaced by a leaf (guarded by this): freed when the map
     * succeeds, put back when it fails. Empty outside {@code map}.
     */
    private final List<Displaced> displaced = new ArrayList<>();

    /**
     * Creates an empty table: allocates and zeroes the top table, for a fixed top.
     *
     * @param memory where tables live and what leaves point into
     * @param format the entry format
     * @throws PhysicalMemoryExhaustedException if the top table cannot be allocated
     * @throws InvalidArgumentException if the format's geometry is refused by
     *     {@link PteFormat#checkGeometry(PteFormat)}
     */
    public IoPageTable(PhysicalMemory memory, PteFormat format) {
        this(memory, format, TopListener.NONE);
    }

    /**
     * Creates an empty table whose top may grow: allocates and zeroes the top table at the
     * format's {@link PteFormat#startLevel()}.
     *
     * @param memory where tables live and what leaves point into
     * @param format the entry format
     * @param topListener told when the top grows (or shrinks back after a failed map)
     * @throws PhysicalMemoryExhaustedException if the top table cannot be allocated
     * @throws InvalidArgumentException if the format's geometry is refused by
     *     {@link PteFormat#checkGeometry(PteFormat)}
     */
    public IoPageTable(PhysicalMemory memory, PteFormat format, TopListener topListener) {
        this.memory = Objects.requireNonNull(memory, "memory");
        this.format = Objects.requireNonNull(format, "format");
        this.topListener = Objects.requireNonNull(topListener, "topListener");
        PteFormat.checkGeometry(format);
        this.tableMemory = new TableMemory(memory, 1L << format.granuleShift());
        this.tableBytes = Math.max(1L << format.granuleShift(), memory.pageSize());
        this.entryBytes = format.entryBytes();
        int levels = format.levels();
        this.shifts = new int[levels];
        this.entries = new int[levels];
        this.levelTableBytes = new long[levels];
        for (int l = 0; l < levels; l++) {
            shifts[l] = format.shift(l);
            entries[l] = format.entries(l);
            levelTableBytes[l] = format.tableBytes(l);
        }
        for (int l = levels - 1; l >= 0; l--) {
            for (long rest = format.leafSizes(l); rest != 0; rest &= rest - 1) {
                levelOfSize[Long.numberOfTrailingZeros(rest)] = l;
            }
        }
        this.pageSizes = format.pageSizes();
        this.sameAddress = format.sameAddressInEveryEntry();
        this.unmapPolicy = format.unmapPolicy();
        this.lifetime = format.tableLifetime();
        synchronized (this) {
            this.root = newTable(format.startLevel(), -1, null);
        }
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
     * Physical address of the top table, what a translation base register points at. Published
     * together with {@link #topLevel()}; read without the lock.
     *
     * @return the top table's address
     */
    public long rootPa() {
        return root.pa;
    }

    /**
     * The level of the top table: 0 for a fixed top, the current top for a growing one (an
     * AMD-Vi domain's mode is {@code levels() - topLevel()}).
     *
     * @return the top level
     */
    public int topLevel() {
        return root.level;
    }

    /**
     * Bytes allocated for each table of one granule: the granule, or the CPU page size if larger.
     * A format with other table sizes ({@link PteFormat#tableBytes(int)}) has tables of other
     * sizes too; {@link #tableBytes(long)} gives each one's.
     *
     * @return the size of a granule-sized table's allocation
     */
    public long tablePageBytes() {
        return tableBytes;
    }

    /**
     * The bytes of table memory at {@code tablePa}: its entries' footprint (a piece of a page for
     * a sub-page table, whole pages otherwise).
     *
     * @param tablePa one of {@link #tablePages()}
     * @return the table's size in bytes
     * @throws InvalidArgumentException if no table of this page table starts there
     */
    public synchronized long tableBytes(long tablePa) {
        Table t = closed ? null : tables.get(tablePa);
        if (t == null) {
            throw new InvalidArgumentException("no table of " + this + " starts at " + Hex.of(tablePa));
        }
        return tableMemory.footprint(levelTableBytes[t.level]);
    }

    /**
     * Physical addresses of every table, top first; none once closed.
     *
     * @return an immutable list, empty after {@link #close()}
     */
    public synchronized List<Long> tablePages() {
        if (closed) {
            return List.of();
        }
        Table top = root;
        List<Long> rest = new ArrayList<>(tables.size());
        tables.forEachValue(t -> {
            if (t != top) {
                rest.add(t.pa);
            }
        });
        rest.sort(null); // by address, so the list does not depend on the map's layout
        List<Long> out = new ArrayList<>(tables.size());
        out.add(top.pa);
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
     * @throws PhysicalMemoryExhaustedException if a table cannot be allocated
     */
    public void map(long iova, long pa, long size, Prot prot) {
        Objects.requireNonNull(prot, "prot");
        checkOpen();
        long granule = 1L << format.granuleShift();
        checkIovaRange("map", iova, size, granule);
        if ((pa & (granule - 1)) != 0
                || !memory.contains(pa, size)
                || (format.outputBits() < 64 && ((pa + size - 1) >>> format.outputBits()) != 0)) {
            throw new InvalidArgumentException("map of IOVA " + Hex.range(iova, size) + " to physical "
                    + Hex.range(pa, size) + " refused: the physical range must be aligned to the granule "
                    + Hex.size(granule) + ", inside memory " + Hex.range(memory.base(), memory.size())
                    + " and below the " + format.outputBits() + "-bit output size");
        }
        format.checkProt(prot);
        memory.failures().check(FailureInjector.Point.MAP);
        if (!mapWithoutLock(iova, pa, size, prot)) {
            synchronized (this) {
                checkOpen();
                mapLocked(iova, pa, size, prot);
            }
        }
    }

    /**
     * The lock-free map: when the whole range is one run of equal leaves in one table that is in
     * place and free there, reserves the run in the table's count, stores it and returns true;
     * otherwise changes nothing and returns false.
     */
    private boolean mapWithoutLock(long iova, long pa, long size, Prot prot) {
        long leaf = leafSize(iova, pa, size);
        int level = levelOfSize[Long.numberOfTrailingZeros(leaf)];
        Table table = root;
        if (level < table.level || iova + size > reach(table.level)) {
            return false; // the top must grow first
        }
        for (int l = table.level; l < level; l++) {
            table = (Table) CHILD.getAcquire(table.children, index(iova, l));
            if (table == null) {
                return false;
            }
        }
        int items = (int) (leaf >>> shifts[level]);
        int first = index(iova, level);
        long count = runLength(iova, pa, size, leaf, level, first, items);
        if (count * leaf != size) {
            return false;
        }
        int n = (int) count * items;
        int before;
        do {
            before = table.valid;
            if (before == DEAD) {
                return false;
            }
        } while (!VALID.weakCompareAndSet(table, before, before + n));
        for (int i = 0; i < n; i++) {
            if (readEntry(table.pa + (long) entryBytes * (first + i)) != 0) {
                VALID.getAndAdd(table, -n); // mapped or a kept table: the locked path decides
                return false;
            }
        }
        storeRun(table, first, pa, leaf, level, (int) count, items, prot);
        return true;
    }

    /** The map proper, under this object's lock. */
    private void mapLocked(long iova, long pa, long size, Prot prot) {
        Table top = root;
        long end = Math.min(iova + size, reach(top.level));
        Leaf clash = iova < end ? findLeaf(top, iova, end) : null;
        if (clash != null) {
            throw new MappingConflictException("map of IOVA " + Hex.range(iova, size) + " refused: IOVA "
                    + Hex.of(Math.max(clash.start(), iova)) + " is already mapped (a " + Hex.size(clash.span())
                    + " leaf at " + Hex.range(clash.start(), clash.span()) + "); unmap it first");
        }
        List<Table> created = new ArrayList<>(2); // a map rarely creates more than a couple of tables
        long done = 0;
        try {
            growTo(topNeeded(iova + size - 1));
            while (done < size) {
                done += mapRun(iova + done, pa + done, size - done, prot, created);
            }
        } catch (RuntimeException e) {
            clear(root, iova, iova + done, false);
            for (int i = displaced.size() - 1; i >= 0; i--) {
                Displaced d = displaced.get(i);
                writeEntry(d.entryPa(), d.pte());
                CHILD.setRelease(d.holder().children, childIndex(d.holder(), d.entryPa()), d.table());
                VALID.getAndAdd(d.holder(), 1);
            }
            displaced.clear();
            for (int i = created.size() - 1; i >= 0; i--) {
                Table t = created.get(i);
                // A lock-free map may have reserved entries in it meanwhile: then it stays.
                if (tables.containsKey(t.pa) && VALID.compareAndSet(t, 0, DEAD)) {
                    releaseTable(t);
                }
            }
            shrinkBackTo(top);
            throw e;
        }
        for (Displaced d : displaced) {
            freeSubtree(d.table());
        }
        displaced.clear();
    }

    /** An empty table a map replaced by a leaf: where its entry was, the entry, the table holding it. */
    private record Displaced(long entryPa, long pte, Table holder, Table table) {}

    /**
     * Unmaps every leaf in {@code [iova, iova + size)}. With {@link UnmapPolicy#REFUSE_CUT} the
     * range must cover whole leaves; with {@link UnmapPolicy#WHOLE_ENTRY_FROM_START} a leaf that
     * starts inside the range is removed whole (and counted whole) even if it ends beyond it, and
     * only a range starting inside a leaf is refused. Tables are freed as the format's
     * {@link PteFormat#tableLifetime()} says; a table the unmap only empties stays.
     *
     * @param iova first IOVA, granule-aligned
     * @param size bytes, a positive multiple of the granule
     * @return bytes that were mapped and no longer are (more than {@code size} when the policy
     *     removed a leaf ending beyond the range)
     * @throws InvalidArgumentException if an argument is misaligned or out of range
     * @throws MappingConflictException if the policy refuses a leaf the range cuts; nothing is
     *     changed
     */
    public long unmap(long iova, long size) {
        checkOpen();
        long granule = 1L << format.granuleShift();
        checkIovaRange("unmap", iova, size, granule);
        if (unmapWithoutLock(iova, size)) {
            return size;
        }
        synchronized (this) {
            checkOpen();
            return unmapLocked(iova, size);
        }
    }

    /**
     * The lock-free unmap: when the range is a run of whole leaves of one table, covers less than
     * that table (so no lifetime frees it) and holds no table pointer, clears them, gives the
     * count back and returns true; otherwise changes nothing and returns false.
     */
    private boolean unmapWithoutLock(long iova, long size) {
        Table table = root;
        long end = iova + size;
        if (end > reach(table.level)) {
            return false;
        }
        int level = table.level;
        while (true) {
            long pte = readEntry(table.pa + (long) entryBytes * index(iova, level));
            PteKind kind = format.kind(pte, level);
            if (kind == PteKind.LEAF) {
                break;
            }
            if (kind != PteKind.TABLE || level + 1 >= format.levels()) {
                return false;
            }
            table = (Table) CHILD.getAcquire(table.children, index(iova, level));
            if (table == null) {
                return false;
            }
            level++;
        }
        long base = tableBase(iova, level);
        if (base != tableBase(end - 1, level) || size >= reach(level)) {
            return false; // beyond this table, or all of it (its lifetime may free it)
        }
        int first = index(iova, level);
        int n = index(end - 1, level) - first + 1;
        for (int i = 0; i < n; i++) {
            long pte = readEntry(table.pa + (long) entryBytes * (first + i));
            if (format.kind(pte, level) != PteKind.LEAF) {
                return false;
            }
            long leaf = format.leafSize(pte, level);
            long start = (base + ((long) (first + i) << shifts[level])) & -leaf;
            if (start < iova || start + leaf > end) {
                return false; // a cut the unmap policy rules on
            }
        }
        for (int i = 0; i < n; i++) {
            writeEntry(table.pa + (long) entryBytes * (first + i), 0);
        }
        VALID.getAndAdd(table, -n);
        return true;
    }

    /** The unmap proper, under this object's lock. */
    private long unmapLocked(long iova, long size) {
        Table top = root;
        long end = Math.min(iova + size, reach(top.level));
        if (iova >= end) {
            return 0;
        }
        Leaf cut = cutLeaf(top, iova, end);
        if (cut != null) {
            throw new MappingConflictException("unmap of IOVA " + Hex.range(iova, size) + " refused: the "
                    + Hex.size(cut.span()) + " mapping at IOVA " + Hex.range(cut.start(), cut.span())
                    + (unmapPolicy == UnmapPolicy.REFUSE_CUT
                            ? " sticks out of it; unmap must cover whole mappings"
                            : " starts before it; unmap must start at a mapping's first byte"));
        }
        return clear(top, iova, end, true);
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
        Table top = root;
        PageTableWalker.Result r = PageTableWalker.walkFrom(memory, format, top.pa, top.level, iova);
        return r.ok() ? r.translation().pa() : -1;
    }

    /**
     * Frees every table, top included, whatever the format's {@link PteFormat#tableLifetime()}
     * (Linux's free_pgtable). Leaves are dropped. Closing twice is harmless.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        tables.forEachValue(t -> {
            t.valid = DEAD;
            long bytes = tableMemory.footprint(levelTableBytes[t.level]);
            memory.fill(t.pa, bytes, (byte) 0);
            tableMemory.free(t.pa, levelTableBytes[t.level]);
        });
        tables.clear();
    }

    /**
     * The lock (this object's monitor) held by every change to the tables' structure (a table
     * created, replaced or freed, the top grown), by maps and unmaps that cannot take the lock-free
     * path and by the queries. While a caller holds it no table is created or freed, so it can
     * walk the tables in memory; maps and unmaps of ranges whose tables are in place still go on
     * beside it (see the class comment), so a caller that needs its own range to stay as it is
     * keeps other callers off that range, as a Linux driver does. The methods re-enter it; while
     * it is held the table takes only the page allocator's lock. It nests inside the caller's
     * buffer and identical-IOVA locks and outside the unit and IOTLB locks.
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
        if (size <= 0
                || (size & (granule - 1)) != 0
                || (iova & (granule - 1)) != 0
                || iova < 0
                || iova > limit - size) {
            throw new InvalidArgumentException(op + " of IOVA " + Hex.of(iova) + " size " + Hex.of(size)
                    + " refused: IOVA and size must be positive multiples of the granule " + Hex.size(granule)
                    + " inside the " + format.inputBits() + "-bit input range " + Hex.range(0, limit));
        }
    }

    private long readEntry(long pa) {
        return entryBytes == 8 ? memory.readLong(pa) : memory.readInt(pa) & 0xFFFF_FFFFL;
    }

    private void writeEntry(long pa, long pte) {
        if (entryBytes == 8) {
            memory.writeLong(pa, pte);
        } else {
            memory.writeInt(pa, (int) pte);
        }
    }

    private Table newTable(int level, long parentEntry, Table parent) {
        long pa = tableMemory.allocate(levelTableBytes[level]);
        Table t = new Table(pa, level, parentEntry, parent, entries[level], level + 1 >= format.levels());
        tables.put(pa, t);
        return t;
    }

    /** Frees {@code t}, empty and already marked {@link #DEAD}, and clears the entry to it. */
    private void releaseTable(Table t) {
        CHILD.setRelease(t.parent.children, childIndex(t.parent, t.parentEntry), null);
        writeEntry(t.parentEntry, 0);
        VALID.getAndAdd(t.parent, -1);
        tables.remove(t.pa);
        tableMemory.free(t.pa, levelTableBytes[t.level]);
    }

    /** One past the last IOVA a top at {@code level} translates (Long.MAX_VALUE for all of them). */
    private long reach(int level) {
        int bits = shifts[level] + Integer.numberOfTrailingZeros(entries[level]);
        return bits >= 63 ? Long.MAX_VALUE : 1L << bits;
    }

    /** The lowest-numbered top level that translates {@code last}, never below the current top's. */
    private int topNeeded(long last) {
        int level = root.level;
        while (level > 0 && last >= reach(level)) {
            level--;
        }
        return level;
    }

    /** Installs new top tables until the top is at {@code level}; tells the listener once. */
    private void growTo(int level) {
        Table top = root;
        if (level >= top.level) {
            return;
        }
        // Allocate every new table first, so that a failed allocation leaves the top untouched.
        List<Table> fresh = new ArrayList<>();
        try {
            for (int l = top.level - 1; l >= level; l--) {
                fresh.add(newTable(l, -1, null));
            }
        } catch (RuntimeException e) {
            for (Table t : fresh) {
                tables.remove(t.pa);
                tableMemory.free(t.pa, levelTableBytes[t.level]);
            }
            throw e;
        }
        Table below = top;
        for (Table t : fresh) {
            writeEntry(t.pa, format.encodeTable(below.pa, t.level));
            CHILD.setRelease(t.children, 0, below);
            t.valid = 1;
            below.parent = t;
            below.parentEntry = t.pa;
            below = t;
        }
        root = below;
        topListener.topChanged(below.pa, below.level);
    }

    /**
     * After a failed map: takes back the tops it grew above {@code old} if they link to it alone;
     * if a lock-free map has meanwhile stored something under one of them, the grown top stays.
     */
    private void shrinkBackTo(Table old) {
        if (root == old) {
            return;
        }
        List<Table> dropped = new ArrayList<>();
        for (Table t = root; t != old; t = t.children[0]) { // a grown top points down through entry 0
            if (!VALID.compareAndSet(t, 1, DEAD)) {
                dropped.forEach(d -> d.valid = 1);
                return;
            }
            dropped.add(t);
        }
        old.parent = null;
        old.parentEntry = -1;
        root = old;
        topListener.topChanged(old.pa, old.level);
        for (Table t : dropped) {
            writeEntry(t.pa, 0);
            tables.remove(t.pa);
            tableMemory.free(t.pa, levelTableBytes[t.level]);
        }
    }

    /** Maps a run of equal-sized leaves inside one table; returns the bytes mapped. */
    private long mapRun(long iova, long pa, long remaining, Prot prot, List<Table> created) {
        long leaf = leafSize(iova, pa, remaining);
        int level = levelOfSize[Long.numberOfTrailingZeros(leaf)];
        growTo(level);
        Table table = root;
        for (int l = table.level; l < level; l++) {
            int index = index(iova, l);
            long entryPa = table.pa + (long) entryBytes * index;
            long pte = readEntry(entryPa);
            if (format.kind(pte, l) == PteKind.TABLE) {
                table = table.children[index];
            } else {
                Table child = newTable(l + 1, entryPa, table);
                created.add(child);
                writeEntry(entryPa, format.encodeTable(child.pa, l));
                CHILD.setRelease(table.children, index, child); // after the entry: see Table.children
                VALID.getAndAdd(table, 1);
                table = child;
            }
        }
        int items = (int) (leaf >>> shifts[level]);
        int first = index(iova, level);
        long count = runLength(iova, pa, remaining, leaf, level, first, items);
        int n = (int) count * items;
        // A table kept empty by the lifetime (map refused any leaf below it): the leaf replaces
        // it, and it is freed when the map succeeds. Only a table with entries, above the last
        // level, can hold one; skipping the others keeps bulk mapping at one store per entry.
        boolean mayHoldTables = level + 1 < format.levels() && table.valid != 0;
        for (int i = 0; mayHoldTables && i < n; i++) {
            long entryPa = table.pa + (long) entryBytes * (first + i);
            long pte = readEntry(entryPa);
            if (pte != 0 && format.kind(pte, level) == PteKind.TABLE) {
                displaced.add(new Displaced(entryPa, pte, table, table.children[first + i]));
                CHILD.setRelease(table.children, first + i, null); // before the leaf replaces it
                VALID.getAndAdd(table, -1);
            }
        }
        VALID.getAndAdd(table, n);
        storeRun(table, first, pa, leaf, level, (int) count, items, prot);
        return count * leaf;
    }

    /** The largest page size that alignment and length allow for a run starting here. */
    private long leafSize(long iova, long pa, long remaining) {
        long leaf = 0;
        for (long rest = pageSizes; rest != 0; rest &= ~leaf) {
            leaf = Long.highestOneBit(rest);
            if (((iova | pa) & (leaf - 1)) == 0 && Long.compareUnsigned(remaining, leaf) >= 0) {
                break;
            }
        }
        return leaf;
    }

    /**
     * How many leaves of {@code leaf} bytes one run maps from entry {@code first} of a level-{@code
     * level} table: up to the table's end or the range's, and no further than where a larger size
     * becomes possible (IOVA and PA at the same offset in it).
     */
    private long runLength(long iova, long pa, long remaining, long leaf, int level, int first, int items) {
        long count = Math.min((entries[level] - first) / items, Long.divideUnsigned(remaining, leaf));
        for (long larger = leaf << 1; larger != 0 && (pageSizes & -larger) != 0; larger <<= 1) {
            if ((pageSizes & larger) != 0 && ((iova ^ pa) & (larger - 1)) == 0) {
                count = Math.min(count, (larger - (iova & (larger - 1))) / leaf);
                break;
            }
        }
        return count;
    }

    /**
     * Encodes {@code count} leaves of {@code leaf} bytes from {@code pa} into a scratch array,
     * then stores them from entry {@code first} with one bounds check and one frame lookup per
     * 4 KiB (bulk mapping writes hundreds of thousands of leaves). The caller has counted them.
     */
    private void storeRun(Table table, int first, long pa, long leaf, int level, int count, int items, Prot prot) {
        int n = count * items;
        long item = 1L << shifts[level];
        if (n <= SHORT_RUN) {
            for (int j = 0; j < count; j++) {
                long start = pa + j * leaf;
                for (int k = 0; k < items; k++) {
                    long pte = format.encodeLeaf(sameAddress ? start : start + k * item, leaf, prot, level);
                    writeEntry(table.pa + (long) entryBytes * (first + j * items + k), pte);
                }
            }
            return;
        }
        Scratch scratch = SCRATCH.get();
        long[] longs = scratch.longs;
        if (longs.length < n) {
            longs = scratch.longs = new long[Math.max(n, Math.min(2 * longs.length, entries[level]))];
        }
        if (items == 1) {
            for (int i = 0; i < n; i++) {
                longs[i] = format.encodeLeaf(pa + i * item, leaf, prot, level);
            }
        } else {
            for (int j = 0; j < count; j++) {
                long start = pa + j * leaf;
                long same = sameAddress ? format.encodeLeaf(start, leaf, prot, level) : 0;
                for (int k = 0; k < items; k++) {
                    longs[j * items + k] = sameAddress ? same : format.encodeLeaf(start + k * item, leaf, prot, level);
                }
            }
        }
        long at = table.pa + (long) entryBytes * first;
        if (entryBytes == 8) {
            memory.writeLongs(at, longs, 0, n);
        } else {
            int[] ints = scratch.ints;
            if (ints.length < n) {
                ints = scratch.ints = new int[longs.length];
            }
            for (int i = 0; i < n; i++) {
                ints[i] = (int) longs[i];
            }
            memory.writeInts(at, ints, 0, n);
        }
    }

    /** A leaf found by {@link #findLeaf} or {@link #leafAt}: its first IOVA and the bytes it maps. */
    private record Leaf(long start, long span) {}

    /** The first leaf under {@code t} overlapping {@code [from, to)} (a map conflict), or null. */
    private Leaf findLeaf(Table t, long from, long to) {
        if (t.valid == 0) {
            return null; // an empty table (kept by the lifetime, or fresh) needs no scan
        }
        int level = t.level;
        long span = 1L << shifts[level];
        long base = tableBase(from, level);
        for (int i = index(from, level); i < entries[level]; i++) {
            long start = base + (long) i * span;
            if (start >= to) {
                break;
            }
            long pte = readEntry(t.pa + (long) entryBytes * i);
            PteKind kind = format.kind(pte, level);
            if (kind == PteKind.LEAF) {
                long size = format.leafSize(pte, level);
                return new Leaf(start & -size, size);
            }
            if (kind == PteKind.TABLE && level + 1 < format.levels()) {
                Leaf hit = findLeaf(t.children[i], Math.max(start, from), Math.min(start + span, to));
                if (hit != null) {
                    return hit;
                }
            }
        }
        return null;
    }

    /**
     * The leaf the unmap policy refuses to cut for {@code [from, to)}, or null. Only a leaf holding
     * the range's first or last byte can reach outside it, so two walks decide it whatever the
     * range's length: {@link UnmapPolicy#REFUSE_CUT} refuses a leaf starting before {@code from}
     * or ending after {@code to}, {@link UnmapPolicy#WHOLE_ENTRY_FROM_START} only the first.
     */
    private Leaf cutLeaf(Table top, long from, long to) {
        Leaf first = leafAt(top, from);
        if (first != null && first.start() < from) {
            return first;
        }
        if (unmapPolicy == UnmapPolicy.REFUSE_CUT) {
            Leaf last = leafAt(top, to - 1);
            if (last != null && last.start() + last.span() > to) {
                return last;
            }
        }
        return null;
    }

    /** The leaf translating {@code iova} under {@code top} (within its reach), or null. */
    private Leaf leafAt(Table top, long iova) {
        PageTableWalker.Result r = PageTableWalker.walkFrom(memory, format, top.pa, top.level, iova);
        if (!r.ok()) {
            return null;
        }
        long size = r.translation().pageSize();
        return new Leaf(iova & -size, size);
    }

    /**
     * Clears the leaves starting inside [from, to) under {@code t} (whole, whatever their end);
     * with {@code free}, also frees the tables the format's lifetime frees for this range (never
     * while a failed map rolls back). Returns the bytes cleared.
     */
    private long clear(Table t, long from, long to, boolean free) {
        if (from >= to || t.valid == 0) {
            return 0;
        }
        int level = t.level;
        long span = 1L << shifts[level];
        long base = tableBase(from, level);
        long bytes = 0;
        int i = index(from, level);
        while (i < entries[level]) {
            long start = base + (long) i * span;
            if (start >= to) {
                break;
            }
            long entryPa = t.pa + (long) entryBytes * i;
            long pte = readEntry(entryPa);
            PteKind kind = format.kind(pte, level);
            if (kind == PteKind.LEAF) {
                long size = format.leafSize(pte, level);
                long leafStart = start & -size;
                int items = (int) (size >>> shifts[level]);
                int firstItem = (int) ((leafStart - base) >>> shifts[level]);
                if (leafStart >= from) {
                    for (int k = 0; k < items; k++) {
                        writeEntry(t.pa + (long) entryBytes * (firstItem + k), 0);
                    }
                    VALID.getAndAdd(t, -items);
                    bytes += size;
                }
                i = firstItem + items;
                continue;
            }
            if (kind == PteKind.TABLE && level + 1 < format.levels()) {
                Table child = t.children[i];
                bytes += clear(child, Math.max(start, from), Math.min(start + span, to), free);
                if (free && start >= from && to - start >= span && freesWhole(level)) {
                    CHILD.setRelease(t.children, i, null);
                    writeEntry(entryPa, 0);
                    VALID.getAndAdd(t, -1);
                    freeSubtree(child);
                }
            }
            i++;
        }
        return bytes;
    }

    /** Whether the lifetime frees a table whose level-{@code level} entry an unmap covers whole. */
    private boolean freesWhole(int level) {
        return switch (lifetime) {
            case UNTIL_FREED -> false;
            case WHOLE_BLOCK -> (pageSizes & (1L << shifts[level])) != 0;
            case WHOLE_RANGE -> true;
        };
    }

    /**
     * Frees {@code t}, which maps nothing, and the tables below it, zeroing their entries first
     * so that freed table memory holds no stale pointer; the entry pointing at {@code t} is the
     * caller's to clear.
     */
    private void freeSubtree(Table t) {
        int level = t.level;
        int left = (int) VALID.getAndSet(t, DEAD); // the caller's range covers it: nobody else maps here
        for (int i = 0; i < entries[level] && left > 0; i++) {
            long entryPa = t.pa + (long) entryBytes * i;
            long pte = readEntry(entryPa);
            if (pte != 0 && format.kind(pte, level) == PteKind.TABLE && level + 1 < format.levels()) {
                Table child = t.children[i];
                CHILD.setRelease(t.children, i, null);
                freeSubtree(child);
                writeEntry(entryPa, 0);
                left--;
            }
        }
        tables.remove(t.pa);
        tableMemory.free(t.pa, levelTableBytes[level]);
    }

    /** The entry of the level-{@code level} table that translates {@code iova}. */
    private int index(long iova, int level) {
        return (int) ((iova >>> shifts[level]) & (entries[level] - 1));
    }

    /** Which entry of {@code table} is at physical address {@code entryPa}. */
    private int childIndex(Table table, long entryPa) {
        return (int) ((entryPa - table.pa) / entryBytes);
    }

    /** The first IOVA covered by the table at {@code level} that contains {@code iova}. */
    private long tableBase(long iova, int level) {
        int bits = shifts[level] + Integer.numberOfTrailingZeros(entries[level]);
        return bits >= 63 ? 0 : iova & -(1L << bits);
    }

    @Override
    public synchronized String toString() {
        return "IoPageTable[top " + Hex.of(root.pa) + " at level " + root.level + ", " + tables.size() + " tables]";
    }
}
