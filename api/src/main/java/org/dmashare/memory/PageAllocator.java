package org.dmashare.memory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.internal.CpuSlots;
import org.dmashare.internal.GuardedBy;
import org.dmashare.internal.LongLongMap;
import org.dmashare.internal.LongSortedSet;

/**
 * The buddy page allocator of one {@link PhysicalMemory}. It hands out naturally aligned blocks
 * whose size is a power of two and at least the CPU page size, always the lowest free address of
 * the smallest order that fits, splits larger blocks on demand and coalesces buddies on free.
 *
 * <p>Every byte is accounted for: {@link #usage()} is exact with respect to every allocation and
 * free that returned before it began, and {@link #allocatedBlocks()} lists every live block, so a
 * test can prove that an operation leaked nothing. Double frees and frees of foreign or misaligned
 * ranges are refused with {@link InvalidArgumentException} and change nothing. Thread-safe.
 *
 * <p><b>Per-CPU page lists.</b> The allocator of a memory made with
 * {@link PhysicalMemory#withPageCaches} keeps, as Linux's per-CPU page lists ({@code pcp}) do,
 * bounded per-thread caches of freed blocks of orders 0 to {@value #CACHED_ORDERS} - 1 (one to
 * eight pages; Linux caches up to {@code PAGE_ALLOC_COSTLY_ORDER}), and spreads the live blocks
 * over stripes by address, so that an allocation served by the thread's cache and a free into it
 * take no lock shared with other threads. A freed block of a cached order goes to the freeing
 * thread's cache (at most {@value #CACHE_HIGH} blocks per order, the rest to the free lists), and
 * an allocation whose largest size is a cached order takes the most recently freed block of that
 * size from the thread's cache. The price is placement only: such a block is not necessarily the
 * lowest free one. Callers see nothing else: a cached block counts as free ({@link #usage()},
 * {@link #holding}, {@link #isAllocated}) and belongs to no one until it is handed out again, each
 * cached block is in exactly one cache, every query that needs the free lists exactly
 * ({@link #allocateAt}, {@link #largestFreeBlock}) first returns all cached blocks to them, an
 * allocation the free lists cannot serve at its largest size returns all cached blocks and tries
 * again before it settles for less or fails, and {@link #drainCaches()} returns them on request.
 */
public final class PageAllocator {

    /**
     * One live allocation.
     *
     * @param pa first physical address, aligned to {@code size}
     * @param size block size in bytes, a power of two
     * @param use what the block is used for
     */
    public record Block(long pa, long size, PageUse use) {
        @Override
        public String toString() {
            return use + " " + Hex.range(pa, size);
        }
    }

    /**
     * Exact accounting at one moment.
     *
     * @param freeBytes bytes in free blocks, including blocks waiting in per-CPU page lists
     * @param bufferBytes bytes allocated for {@link PageUse#BUFFER}
     * @param tableBytes bytes allocated for {@link PageUse#PAGE_TABLE}
     * @param liveBlocks number of allocated blocks
     */
    public record Usage(long freeBytes, long bufferBytes, long tableBytes, long liveBlocks) {
        /**
         * Bytes allocated for any use.
         *
         * @return buffer plus table bytes
         */
        public long usedBytes() {
            return bufferBytes + tableBytes;
        }
    }

    /**
     * Who holds a live block: the block containing a page, what it is used for and its holder.
     *
     * @param pa first physical address of the live block
     * @param size the block's size in bytes
     * @param use what the block is used for
     * @param holder the holder the block was allocated for ({@link #newHolder()}), or
     *     {@link #ANONYMOUS} for blocks allocated without one
     */
    public record Holding(long pa, long size, PageUse use, long holder) {
        /**
         * One past the block's last address.
         *
         * @return {@code pa + size}
         */
        public long end() {
            return pa + size;
        }

        @Override
        public String toString() {
            return use == PageUse.PAGE_TABLE
                    ? "a page-table block " + Hex.range(pa, size)
                    : (holder == ANONYMOUS ? "an anonymous " : "holder #" + holder + "'s ") + use + " block "
                            + Hex.range(pa, size);
        }
    }

    /** The holder of blocks allocated without one ({@link #allocate}, {@link #allocateLargest(long, long, PageUse)}). */
    public static final long ANONYMOUS = 0;

    private static final PageUse[] USES = PageUse.values();
    /** Holder ids fit the 47 bits above a live value's order and use. */
    private static final long MAX_HOLDER = (1L << 47) - 1;

    /** A live block's holder, order and use packed into one long, the value of {@link #live}. */
    private static long liveValue(int order, PageUse use, long holder) {
        return (holder << 16) | ((long) order << 8) | use.ordinal();
    }

    private static long liveHolder(long liveValue) {
        return liveValue >>> 16;
    }

    private static int liveOrder(long liveValue) {
        return (int) ((liveValue >>> 8) & 0xff);
    }

    private static PageUse liveUse(long liveValue) {
        return USES[(int) (liveValue & 0xff)];
    }

    /** Orders kept in the per-CPU page lists: 0 to 3, Linux's {@code PAGE_ALLOC_COSTLY_ORDER}. */
    static final int CACHED_ORDERS = 4;
    /** Blocks per order one per-CPU list keeps before frees go to the free lists (Linux's {@code high}). */
    static final int CACHE_HIGH = 64;
    /** Holder ids one per-CPU list reserves at a time. */
    static final int HOLDER_BATCH = 64;

    private final PhysicalMemory memory;
    private final int pageShift;
    /** Free blocks per order, by address; primitive sorted sets (see {@link LongSortedSet} for why). */
    @GuardedBy("this")
    private final LongSortedSet[] free;
    /**
     * Live blocks spread over stripes by address: one stripe guarded by this object's lock
     * without page caches, each stripe by its own monitor with them.
     */
    private final LiveStripe[] live;
    /** {@code 64 - log2(live.length)}: the product bits above it pick a live stripe. */
    private final int liveShift;
    /** The per-CPU page lists, or {@code null} without page caches. */
    private final CpuList[] caches;
    /** The last holder id handed out (atomic: taken without the lock). */
    private final AtomicLong holders = new AtomicLong();
    /** The block {@link #takeFromFreeLists} took last. */
    @GuardedBy("this")
    private long lastTaken;

    PageAllocator(PhysicalMemory memory, boolean pageCaches) {
        this.memory = memory;
        this.pageShift = Long.numberOfTrailingZeros(memory.pageSize());
        // Largest order whose block size (2^62) is still a positive long; 2^63 would overflow the
        // size comparisons below (a memory at base 0 then never finished carving).
        int maxOrder = 62 - pageShift;
        this.free = new LongSortedSet[maxOrder + 1];
        for (int i = 0; i <= maxOrder; i++) {
            free[i] = new LongSortedSet();
        }
        // Carve the memory into maximal naturally aligned power-of-two blocks.
        long pa = memory.base();
        long end = memory.end();
        while (pa < end) {
            int order = maxOrder;
            while (order > 0
                    && ((pa & ((1L << (order + pageShift)) - 1)) != 0 || (1L << (order + pageShift)) > end - pa)) {
                order--;
            }
            free[order].add(pa);
            pa += 1L << (order + pageShift);
        }
        if (pageCaches) {
            int cpus = CpuSlots.stripes();
            caches = new CpuList[cpus];
            for (int i = 0; i < cpus; i++) {
                caches[i] = new CpuList();
            }
            live = new LiveStripe[8 * cpus];
        } else {
            caches = null;
            live = new LiveStripe[1];
        }
        for (int i = 0; i < live.length; i++) {
            live[i] = new LiveStripe();
        }
        liveShift = 64 - Integer.numberOfTrailingZeros(live.length);
    }

    /**
     * Whether this allocator keeps per-CPU page lists ({@link PhysicalMemory#withPageCaches}).
     *
     * @return true if it does
     */
    public boolean hasPageCaches() {
        return caches != null;
    }

    /**
     * The CPU page size: the smallest block and the unit of every block size.
     *
     * @return the page size in bytes
     */
    public int pageSize() {
        return memory.pageSize();
    }

    /**
     * Allocates one naturally aligned block of {@code size} bytes.
     *
     * @param size a power of two, at least the page size
     * @param use what the block is for (accounted apart)
     * @return the block's physical address, a multiple of {@code size}
     * @throws InvalidArgumentException if {@code size} is not a power of two at least the page size
     * @throws PhysicalMemoryExhaustedException if no free block of that size exists (or an
     *     injected failure fires); nothing is changed
     */
    public long allocate(long size, PageUse use) {
        return allocateLargest(size, size, use).pa();
    }

    /**
     * Allocates the largest free block whose size lies between {@code minSize} and
     * {@code maxSize}: {@code maxSize} if any free block is at least that large, otherwise the
     * largest free block that is at least {@code minSize}. This is how a buffer is built from
     * large blocks while tolerating fragmentation.
     *
     * @param maxSize a power of two, at least the page size
     * @param minSize a power of two, at least the page size, at most {@code maxSize}
     * @param use what the block is for
     * @return the block
     * @throws InvalidArgumentException if a size is invalid
     * @throws PhysicalMemoryExhaustedException if no free block of at least {@code minSize}
     *     exists (or an injected failure fires); nothing is changed
     */
    public Block allocateLargest(long maxSize, long minSize, PageUse use) {
        return allocateLargest(maxSize, minSize, use, ANONYMOUS);
    }

    /**
     * As {@link #allocateLargest(long, long, PageUse)}, recording {@code holder} as the block's
     * holder, so that {@link #holding} can later tell whose it is.
     *
     * @param maxSize a power of two, at least the page size
     * @param minSize a power of two, at least the page size, at most {@code maxSize}
     * @param use what the block is for
     * @param holder an id from {@link #newHolder()}, or {@link #ANONYMOUS}
     * @return the block
     * @throws InvalidArgumentException if a size is invalid or the holder was never handed out
     *     (with per-CPU page lists: never reserved for a list, see {@link #newHolder()})
     * @throws PhysicalMemoryExhaustedException if no free block of at least {@code minSize}
     *     exists (or an injected failure fires); nothing is changed
     */
    public Block allocateLargest(long maxSize, long minSize, PageUse use, long holder) {
        Objects.requireNonNull(use, "use");
        if (holder < 0 || holder > holders.get()) {
            throw new InvalidArgumentException("holder #" + holder + " was never handed out; accepted: " + ANONYMOUS
                    + " or an id from newHolder() (1.." + holders.get() + ")");
        }
        int max = orderOf(maxSize);
        int min = orderOf(minSize);
        if (min > max) {
            throw new InvalidArgumentException(
                    "minimum block " + Hex.size(minSize) + " exceeds maximum " + Hex.size(maxSize));
        }
        checkInjectedFailure(use);
        if (caches != null && max < CACHED_ORDERS) {
            CpuList mine = mine();
            long pa;
            synchronized (mine) {
                pa = mine.pop(max);
            }
            if (pa >= 0) {
                return recordLive(pa, max, use, holder);
            }
        }
        synchronized (this) {
            int order = takeFromFreeLists(max, min);
            if (order != max && caches != null) {
                // A cached block may be the one of at least maxSize that the free lists lack.
                drainCachesLocked();
                if (order >= 0) {
                    freeToLists(lastTaken, order);
                }
                order = takeFromFreeLists(max, min);
            }
            if (order < 0) {
                throw new PhysicalMemoryExhaustedException("no free block of at least " + Hex.size(minSize)
                        + " for " + use + ": " + Hex.size(usage().freeBytes()) + " free, largest free block "
                        + Hex.size(largestFreeBlockLocked()));
            }
            return recordLive(lastTaken, order, use, holder);
        }
    }

    /**
     * Takes the lowest block of order {@code max} off the free lists, splitting a larger one if
     * needed, or else the largest of at least order {@code min}; leaves its address in
     * {@link #lastTaken}.
     *
     * @return the order taken, or -1 (nothing changed) if no free block of order {@code min} or
     *     more exists
     */
    @GuardedBy("this")
    private int takeFromFreeLists(int max, int min) {
        int order = max;
        int from = order;
        while (from < free.length && free[from].isEmpty()) {
            from++;
        }
        if (from == free.length) {
            from = max - 1;
            while (from >= min && free[from].isEmpty()) {
                from--;
            }
            if (from < min) {
                return -1;
            }
            order = from;
        }
        long pa = free[from].pollFirst();
        while (from > order) {
            from--;
            free[from].add(pa + (1L << (from + pageShift)));
        }
        lastTaken = pa;
        return order;
    }

    /**
     * Allocates the naturally aligned block {@code [pa, pa + size)}, which must be free, splitting
     * the free block that contains it. This lets a caller reproduce a given physical placement
     * (for example a scripted page source in a test, or table pages a boot loader left behind)
     * while every byte stays accounted for.
     *
     * @param pa first address, a multiple of {@code size}
     * @param size a power of two, at least the page size
     * @param use what the block is for
     * @return the block
     * @throws InvalidArgumentException if the size is invalid, {@code pa} is not aligned to it, or
     *     the block is outside the memory
     * @throws PhysicalMemoryExhaustedException if any byte of the block is not free (or an
     *     injected failure fires); nothing is changed
     */
    public Block allocateAt(long pa, long size, PageUse use) {
        Objects.requireNonNull(use, "use");
        int target = orderOf(size);
        if ((pa & (size - 1)) != 0 || !memory.contains(pa, size)) {
            throw new InvalidArgumentException(
                    "block " + Hex.range(pa, size) + " must be naturally aligned to its size " + Hex.size(size)
                            + " and inside memory " + Hex.range(memory.base(), memory.size()));
        }
        checkInjectedFailure(use);
        synchronized (this) {
            drainCachesLocked();
            int from = target;
            long start = pa;
            while (from < free.length) {
                start = pa & -(1L << (from + pageShift));
                if (free[from].contains(start)) {
                    break;
                }
                from++;
            }
            if (from == free.length) {
                throw new PhysicalMemoryExhaustedException("block " + Hex.range(pa, size) + " for " + use
                        + " is not free (allocated, or outside memory " + Hex.range(memory.base(), memory.size())
                        + ")");
            }
            free[from].remove(start);
            while (from > target) {
                from--;
                long half = 1L << (from + pageShift);
                // keep the half that holds pa, give the other back
                if ((pa & half) != 0) {
                    free[from].add(start);
                    start += half;
                } else {
                    free[from].add(start + half);
                }
            }
            return recordLive(pa, target, use, ANONYMOUS);
        }
    }

    /** Lets the failure injector fail this allocation, at the point for its use. */
    private void checkInjectedFailure(PageUse use) {
        memory.failures()
                .check(
                        use == PageUse.BUFFER
                                ? FailureInjector.Point.PAGE_ALLOCATION
                                : FailureInjector.Point.TABLE_PAGE_ALLOCATION);
    }

    /**
     * Records a block just taken off the free lists or a per-CPU list as live and accounts for
     * it, under its stripe's guard (nested in this object's lock, or alone for a block from a
     * per-CPU list); the block is the caller's alone until then.
     */
    private Block recordLive(long pa, int order, PageUse use, long holder) {
        long size = 1L << (order + pageShift);
        LiveStripe l = liveStripe(pa);
        synchronized (guard(l)) {
            l.add(pa, liveValue(order, use, holder), use, size);
        }
        return new Block(pa, size, use);
    }

    /** The lock guarding {@code l}: this object's without page caches, the stripe's with them. */
    private Object guard(LiveStripe l) {
        return caches == null ? this : l;
    }

    private LiveStripe liveStripe(long pa) {
        return live.length == 1 ? live[0] : live[(int) (((pa >>> pageShift) * 0xC2B2_AE3D_27D4_EB4FL) >>> liveShift)];
    }

    /** This thread's per-CPU list. */
    private CpuList mine() {
        return caches[CpuSlots.current() & (caches.length - 1)];
    }

    /**
     * Splits a live block into live blocks of one page each, as Linux's {@code split_page} does,
     * so that its pages can then be freed one at a time. Accounting is unchanged.
     *
     * @param pa the address the block was allocated at
     * @param size the size it was allocated with
     * @throws InvalidArgumentException if {@code pa} is not the start of a live block of exactly
     *     {@code size} bytes; nothing is changed
     */
    public void split(long pa, long size) {
        LiveStripe first = liveStripe(pa);
        long block;
        synchronized (guard(first)) {
            block = first.ranges.get(pa, -1);
            if (block < 0 || (1L << (liveOrder(block) + pageShift)) != size) {
                String found = block < 0
                        ? "no live block starts there"
                        : "the live block there is " + Hex.size(1L << (liveOrder(block) + pageShift));
                throw new InvalidArgumentException("split of " + Hex.range(pa, size) + " refused: " + found);
            }
            first.remove(pa, liveUse(block), size);
        }
        long page = 1L << pageShift;
        long single = liveValue(0, liveUse(block), liveHolder(block));
        for (long p = pa; p < pa + size; p += page) {
            LiveStripe l = liveStripe(p);
            synchronized (guard(l)) {
                l.add(p, single, liveUse(block), page);
            }
        }
    }

    /**
     * Returns an anonymous block to the allocator, coalescing it with its free buddies.
     *
     * @param pa the address {@link #allocate} returned
     * @param size the size it was allocated with
     * @throws InvalidArgumentException if {@code pa} is not the start of a live block of exactly
     *     {@code size} bytes (double free, foreign or misaligned range), or the block has a holder
     *     (only that holder may free it); nothing is changed
     */
    public void free(long pa, long size) {
        free(pa, size, ANONYMOUS);
    }

    /**
     * Returns a block of {@code holder} to the allocator, coalescing it with its free buddies.
     *
     * @param pa the address the block was allocated at
     * @param size the size it was allocated with
     * @param holder the holder it was allocated for, {@link #ANONYMOUS} if none
     * @throws InvalidArgumentException if {@code pa} is not the start of a live block of exactly
     *     {@code size} bytes (double free, foreign or misaligned range) or the block belongs to
     *     another holder; nothing is changed
     */
    public void free(long pa, long size, long holder) {
        LiveStripe l = liveStripe(pa);
        if (caches == null) {
            synchronized (this) {
                freeToLists(pa, unlive(l, pa, size, holder));
            }
            return;
        }
        int order;
        synchronized (l) {
            order = unlive(l, pa, size, holder);
        }
        // The block is now this caller's alone: in no list and live for no one.
        if (order < CACHED_ORDERS) {
            CpuList mine = mine();
            synchronized (mine) {
                if (mine.push(order, pa)) {
                    return;
                }
            }
        }
        synchronized (this) {
            freeToLists(pa, order);
        }
    }

    /**
     * Removes exactly a live block of {@code holder} from its stripe, under the stripe's guard,
     * or throws changing nothing.
     *
     * @return the block's order
     */
    private int unlive(LiveStripe l, long pa, long size, long holder) {
        long block = l.ranges.get(pa, -1);
        if (block < 0 || (1L << (liveOrder(block) + pageShift)) != size) {
            String found = block < 0
                    ? "no live block starts there"
                    : "the live block there is " + Hex.size(1L << (liveOrder(block) + pageShift));
            throw new InvalidArgumentException("free of " + Hex.range(pa, size) + " refused: " + found
                    + " (double free, foreign or misaligned range)");
        }
        if (liveHolder(block) != holder) {
            throw new InvalidArgumentException("free of " + Hex.range(pa, size) + " by "
                    + (holder == ANONYMOUS ? "an anonymous caller" : "holder #" + holder) + " refused: the block is "
                    + new Holding(pa, size, liveUse(block), liveHolder(block)) + "; only its holder frees it");
        }
        l.remove(pa, liveUse(block), size);
        return liveOrder(block);
    }

    /** Puts a block on the free lists, coalescing it with its free buddies. */
    @GuardedBy("this")
    private void freeToLists(long pa, int order) {
        while (order + 1 < free.length) {
            long buddy = pa ^ (1L << (order + pageShift));
            if (!free[order].remove(buddy)) {
                break;
            }
            pa = Math.min(pa, buddy);
            order++;
        }
        free[order].add(pa);
    }

    /**
     * Returns every block held in the per-CPU page lists to the free lists, coalescing them with
     * their buddies, as an allocation the free lists cannot serve does; a no-op without page
     * caches. Changes nothing callers can observe but the placement of later allocations.
     */
    public synchronized void drainCaches() {
        drainCachesLocked();
    }

    @GuardedBy("this")
    private void drainCachesLocked() {
        if (caches == null) {
            return;
        }
        for (CpuList c : caches) {
            synchronized (c) {
                for (int order = 0; order < CACHED_ORDERS; order++) {
                    while (c.count(order) > 0) {
                        freeToLists(c.pop(order), order);
                    }
                }
            }
        }
    }

    /**
     * Number of blocks held in the per-CPU page lists; for tests.
     *
     * @return the count, 0 without page caches
     */
    synchronized int cachedBlocks() {
        int n = 0;
        for (CpuList c : caches == null ? new CpuList[0] : caches) {
            synchronized (c) {
                for (int order = 0; order < CACHED_ORDERS; order++) {
                    n += c.count(order);
                }
            }
        }
        return n;
    }

    /**
     * Whether {@code [pa, pa + size)} lies inside one live block.
     *
     * @param pa first address
     * @param size number of bytes
     * @return true if every byte is allocated, in a single block
     */
    public boolean isAllocated(long pa, long size) {
        Holding h = liveBlockAround(pa);
        return h != null && pa + size <= h.end();
    }

    /** The live block containing {@code pa}, or null; each probe under its stripe's guard. */
    private Holding liveBlockAround(long pa) {
        for (int order = 0; order < free.length; order++) {
            long start = pa & -(1L << (order + pageShift));
            LiveStripe s = liveStripe(start);
            long l;
            synchronized (guard(s)) {
                l = s.ranges.get(start, -1);
            }
            if (l >= 0 && liveOrder(l) == order) {
                return new Holding(start, 1L << (order + pageShift), liveUse(l), liveHolder(l));
            }
        }
        return null;
    }

    /**
     * A new holder id, never handed out before: pass it to
     * {@link #allocateLargest(long, long, PageUse, long)} so that the blocks allocated for one
     * owner can be told apart from every other owner's with {@link #holding}. With per-CPU page
     * lists, each list reserves {@value #HOLDER_BATCH} ids at a time from the shared counter (so
     * threads do not all write one counter): ids are then unique but not in order across threads.
     *
     * @return a positive id
     * @throws PhysicalMemoryExhaustedException if 2^47 - 1 ids have been handed out
     */
    public long newHolder() {
        if (caches != null) {
            CpuList mine = mine();
            synchronized (mine) {
                if (mine.nextHolder == mine.holderEnd) {
                    long last = holders.addAndGet(HOLDER_BATCH);
                    if (last > MAX_HOLDER) {
                        holders.addAndGet(-HOLDER_BATCH);
                        throw new PhysicalMemoryExhaustedException(
                                "no holder id left: " + Hex.of(MAX_HOLDER) + " handed out");
                    }
                    mine.nextHolder = last - HOLDER_BATCH + 1;
                    mine.holderEnd = last + 1;
                }
                return mine.nextHolder++;
            }
        }
        long id = holders.incrementAndGet();
        if (id > MAX_HOLDER) {
            holders.decrementAndGet();
            throw new PhysicalMemoryExhaustedException("no holder id left: " + Hex.of(MAX_HOLDER) + " handed out");
        }
        return id;
    }

    /**
     * Who holds the page containing {@code pa}: the live block around it with its use and
     * holder, or null if the page is free.
     *
     * @param pa any address inside memory
     * @return the live block containing {@code pa}, or null when that page is free
     * @throws InvalidArgumentException if {@code pa} is outside memory
     */
    public Holding holding(long pa) {
        if (!memory.contains(pa, 1)) {
            throw new InvalidArgumentException(
                    "address " + Hex.of(pa) + " is outside memory " + Hex.range(memory.base(), memory.size()));
        }
        return liveBlockAround(pa);
    }

    /**
     * Exact accounting now.
     *
     * @return free, buffer and table bytes and the number of live blocks
     */
    public Usage usage() {
        long buffer = 0;
        long table = 0;
        long blocks = 0;
        for (LiveStripe l : live) {
            synchronized (guard(l)) {
                buffer += l.bufferBytes;
                table += l.tableBytes;
                blocks += l.ranges.size();
            }
        }
        return new Usage(memory.size() - buffer - table, buffer, table, blocks);
    }

    /**
     * Every live block, sorted by address.
     *
     * @return an immutable snapshot
     */
    public List<Block> allocatedBlocks() {
        List<Block> out = new ArrayList<>();
        for (LiveStripe s : live) {
            synchronized (guard(s)) {
                s.ranges.forEach((pa, l) -> out.add(new Block(pa, 1L << (liveOrder(l) + pageShift), liveUse(l))));
            }
        }
        out.sort(Comparator.comparingLong(Block::pa));
        return List.copyOf(out);
    }

    /**
     * The size of the largest free block, 0 if memory is full.
     *
     * @return bytes
     */
    public synchronized long largestFreeBlock() {
        drainCachesLocked();
        return largestFreeBlockLocked();
    }

    private long largestFreeBlockLocked() {
        for (int order = free.length - 1; order >= 0; order--) {
            if (!free[order].isEmpty()) {
                return 1L << (order + pageShift);
            }
        }
        return 0;
    }

    private int orderOf(long size) {
        if (size < memory.pageSize() || Long.bitCount(size) != 1) {
            throw new InvalidArgumentException("block size must be a power of two of at least the page size "
                    + Hex.size(memory.pageSize()) + ", got " + Hex.of(size));
        }
        return Long.numberOfTrailingZeros(size) - pageShift;
    }

    @Override
    public String toString() {
        Usage u = usage();
        return "PageAllocator[free " + Hex.of(u.freeBytes()) + ", buffer " + Hex.of(u.bufferBytes()) + ", tables "
                + Hex.of(u.tableBytes()) + ", " + u.liveBlocks() + " blocks]";
    }

    /** The written fields of a {@link LiveStripe}, laid out before its padding. */
    private static class LiveStripeFields {
        /** Live blocks, address to {@link #liveValue}: two array slots a block (heap per buffer is a target). */
        final LongLongMap ranges = new LongLongMap();

        long bufferBytes;
        long tableBytes;
    }

    /**
     * One stripe of the live blocks and their byte counts, guarded as {@link #guard} says. The
     * padding keeps two stripes' lock words and counts off a shared pair of cache lines.
     */
    @SuppressWarnings("unused")
    private static final class LiveStripe extends LiveStripeFields {
        long p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15;

        void add(long pa, long value, PageUse use, long size) {
            ranges.put(pa, value);
            count(use, size);
        }

        void remove(long pa, PageUse use, long size) {
            ranges.remove(pa);
            count(use, -size);
        }

        private void count(PageUse use, long bytes) {
            if (use == PageUse.BUFFER) {
                bufferBytes += bytes;
            } else {
                tableBytes += bytes;
            }
        }
    }

    /**
     * One CPU's page lists: a stack of freed block addresses per cached order, at most
     * {@link #CACHE_HIGH} each; its monitor guards it and is a leaf. Padded as a live stripe is.
     *
     * <p>Each stack's count and addresses sit in one array with {@link #MARGIN} unused slots at
     * both ends, so no other object written by another CPU shares a cache line with them. With a
     * separate count array and one address array per order, the small arrays of two CPUs' lists
     * lay side by side: two threads on their own domains took 912 ns per share + close (fork
     * medians 751 to 1,212 ns) where one thread took 610 ns; with this layout 752 ns (601 to 882).
     */
    @SuppressWarnings("unused")
    private static final class CpuList {
        /** Unused slots at each end of {@link #stacks}: two cache lines of longs. */
        private static final int MARGIN = 16;
        /** Slots per order: the count, then up to {@link #CACHE_HIGH} addresses, oldest first. */
        private static final int STACK = 1 + CACHE_HIGH;

        final long[] stacks = new long[MARGIN + CACHED_ORDERS * STACK + MARGIN];
        /** The next holder id this list hands out; ids up to {@link #holderEnd} are reserved for it. */
        long nextHolder;

        long holderEnd;
        long p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15;

        /** Number of blocks of {@code order} in this list. */
        int count(int order) {
            return (int) stacks[MARGIN + order * STACK];
        }

        /** The most recently pushed block of {@code order}, removed, or -1. */
        long pop(int order) {
            int at = MARGIN + order * STACK;
            int n = (int) stacks[at];
            if (n == 0) {
                return -1;
            }
            stacks[at] = n - 1;
            return stacks[at + n];
        }

        /** Pushes a block unless the list of its order is full. */
        boolean push(int order, long pa) {
            int at = MARGIN + order * STACK;
            int n = (int) stacks[at];
            if (n == CACHE_HIGH) {
                return false;
            }
            stacks[at + n + 1] = pa;
            stacks[at] = n + 1;
            return true;
        }
    }
}
