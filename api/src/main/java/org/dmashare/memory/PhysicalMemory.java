package org.dmashare.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;

/**
 * A sparse, thread-safe model of DRAM: the range {@code [base, base + size)} of physical
 * addresses, read and written by the CPU, by page-table code and by device DMA.
 *
 * <p>Storage is allocated in 4 KiB frames the first time a frame is written; memory never
 * written reads as zero, so 64 GiB of modelled RAM costs a small directory until touched
 * ({@link #touchedBytes()} tells how much is backed; each backed frame takes 4 KiB of heap plus 256
 * bytes of margin, so that frames written by different threads share no cache line). 64-bit
 * accesses are little-endian and, when 8-byte aligned, single-copy atomic with acquire/release
 * ordering, as page-table walkers need; 32-bit accesses ({@link #readInt}, {@link #writeInt}, for
 * formats with 4-byte entries) give the same guarantees at 4-byte alignment. Byte ranges are not
 * atomic as a whole, as on hardware.
 *
 * <p>Each memory owns one {@link PageAllocator} and one {@link FailureInjector}.
 */
public final class PhysicalMemory {
    /** Largest modelled size: 2^42 bytes (4 TiB). */
    public static final long MAX_SIZE = 1L << 42;

    private static final int FRAME_SHIFT = 12;
    private static final int FRAME_SIZE = 1 << FRAME_SHIFT;
    /**
     * Unused bytes before and after each frame's 4 KiB in its array. Hardware pages never share a
     * cache line; heap arrays do once the collector places them side by side, and then two CPUs
     * writing their own pages (two domains' page-table entries) slow each other down: two threads
     * on their own domains took 800–1,400 ns per share + close in most runs where one thread took
     * 600 ns, and 600–700 ns with these margins. 128 bytes covers a pair of 64-byte lines, which
     * adjacent-line prefetchers fetch together.
     */
    private static final int FRAME_MARGIN = 128;

    private static final int CHUNK_SHIFT = 14; // frames per directory chunk: 64 MiB of memory
    private static final int CHUNK_FRAMES = 1 << CHUNK_SHIFT;
    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INTS = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    private final long base;
    private final long size;
    private final int pageSize;
    private final AtomicReferenceArray<AtomicReferenceArray<byte[]>> directory;
    private final AtomicLong touchedFrames = new AtomicLong();
    private final FailureInjector failures = new FailureInjector();
    private final PageAllocator allocator;

    private PhysicalMemory(long base, long size, int pageSize, boolean pageCaches) {
        this.base = base;
        this.size = size;
        this.pageSize = pageSize;
        long chunks = (size + ((long) CHUNK_FRAMES << FRAME_SHIFT) - 1) >>> (CHUNK_SHIFT + FRAME_SHIFT);
        this.directory = new AtomicReferenceArray<>((int) chunks);
        this.allocator = new PageAllocator(this, pageCaches);
    }

    /**
     * Creates a memory of {@code size} bytes starting at physical address {@code base}.
     *
     * @param base first physical address; a multiple of {@code pageSize}
     * @param size number of bytes; a positive multiple of {@code pageSize}, at most
     *     {@link #MAX_SIZE}
     * @param pageSize the CPU page size (the kernel's PAGE_SIZE): 4096 or 16384
     * @return the memory, all free, reading as zero
     * @throws InvalidArgumentException if an argument is out of range or misaligned
     */
    public static PhysicalMemory create(long base, long size, int pageSize) {
        return create(base, size, pageSize, false);
    }

    /**
     * Creates a memory as {@link #create} does whose page allocator keeps per-CPU page lists, as
     * Linux's does: freed blocks of one to eight pages wait in bounded per-thread caches, so
     * threads allocating and freeing such blocks do not contend on the allocator's lock (see
     * {@link PageAllocator}). Every accounting and ownership query answers as without the caches;
     * only the placement of blocks differs. IOMMU domains over such a memory also keep per-thread
     * IOVA range caches ({@link org.dmashare.iova.IovaAllocator#withRangeCaches}).
     *
     * @param base first physical address; a multiple of {@code pageSize}
     * @param size number of bytes; a positive multiple of {@code pageSize}, at most
     *     {@link #MAX_SIZE}
     * @param pageSize the CPU page size (the kernel's PAGE_SIZE): 4096 or 16384
     * @return the memory, all free, reading as zero
     * @throws InvalidArgumentException if an argument is out of range or misaligned
     */
    public static PhysicalMemory withPageCaches(long base, long size, int pageSize) {
        return create(base, size, pageSize, true);
    }

    private static PhysicalMemory create(long base, long size, int pageSize, boolean pageCaches) {
        if (pageSize != 4096 && pageSize != 16384) {
            throw new InvalidArgumentException(
                    "page size must be 4 KiB (0x1000) or 16 KiB (0x4000), got " + Hex.size(pageSize));
        }
        if (size <= 0 || size > MAX_SIZE || size % pageSize != 0) {
            throw new InvalidArgumentException("memory size must be a positive multiple of the page size "
                    + Hex.size(pageSize) + " up to " + Hex.size(MAX_SIZE) + ", got " + Hex.of(size));
        }
        if (base < 0 || base % pageSize != 0 || base > (1L << 52) - size) {
            throw new InvalidArgumentException("memory base must be page-aligned (" + Hex.size(pageSize)
                    + ") with base + size below 2^52, got base " + Hex.of(base) + " size " + Hex.of(size));
        }
        return new PhysicalMemory(base, size, pageSize, pageCaches);
    }

    /**
     * First physical address.
     *
     * @return the base address
     */
    public long base() {
        return base;
    }

    /**
     * Number of bytes modelled.
     *
     * @return the size
     */
    public long size() {
        return size;
    }

    /**
     * One past the last physical address.
     *
     * @return {@code base() + size()}
     */
    public long end() {
        return base + size;
    }

    /**
     * The CPU page size (PAGE_SIZE), the smallest block the page allocator hands out.
     *
     * @return 4096 or 16384
     */
    public int pageSize() {
        return pageSize;
    }

    /**
     * The buddy allocator that owns every page of this memory.
     *
     * @return the allocator
     */
    public PageAllocator allocator() {
        return allocator;
    }

    /**
     * The failure injector shared by everything built over this memory.
     *
     * @return the injector
     */
    public FailureInjector failures() {
        return failures;
    }

    /**
     * Whether {@code [pa, pa + length)} lies inside this memory.
     *
     * @param pa first address
     * @param length number of bytes, at least 0
     * @return true if the whole range is modelled
     */
    public boolean contains(long pa, long length) {
        return length >= 0 && pa >= base && pa <= end() && length <= end() - pa;
    }

    /**
     * Bytes of heap-backed storage: 4 KiB for every frame ever written.
     *
     * @return the backed size in bytes
     */
    public long touchedBytes() {
        return touchedFrames.get() << FRAME_SHIFT;
    }

    /**
     * Reads an aligned little-endian 64-bit value with acquire ordering.
     *
     * @param pa address, a multiple of 8
     * @return the value, 0 if never written
     * @throws InvalidArgumentException if {@code pa} is misaligned or outside this memory
     */
    public long readLong(long pa) {
        checkLong(pa);
        byte[] frame = frame(pa, false);
        return frame == null ? 0 : (long) LONGS.getAcquire(frame, index(pa));
    }

    /**
     * Writes an aligned little-endian 64-bit value with release ordering.
     *
     * @param pa address, a multiple of 8
     * @param value the value
     * @throws InvalidArgumentException if {@code pa} is misaligned or outside this memory
     */
    public void writeLong(long pa, long value) {
        checkLong(pa);
        LONGS.setRelease(frame(pa, true), index(pa), value);
    }

    /**
     * Writes {@code count} consecutive aligned little-endian 64-bit values, each with release
     * ordering exactly as {@link #writeLong} would, starting at {@code pa}. The bounds are checked
     * once and the backing frame looked up once per 4 KiB rather than per value: this is how a page
     * table writes a run of leaf entries.
     *
     * @param pa address of the first value, a multiple of 8
     * @param values the values
     * @param offset index of the first value in {@code values}
     * @param count number of values
     * @throws InvalidArgumentException if {@code pa} is misaligned, the range is outside this
     *     memory, or the slice does not fit {@code values}; nothing is written
     */
    public void writeLongs(long pa, long[] values, int offset, int count) {
        Objects.requireNonNull(values, "values");
        checkSlice(offset, count, values.length);
        if (count == 0) {
            return;
        }
        checkLong(pa);
        checkLong(pa + 8L * (count - 1));
        int i = 0;
        while (i < count) {
            byte[] frame = frame(pa, true);
            int at = (int) (pa & (FRAME_SIZE - 1));
            int n = Math.min(count - i, (FRAME_SIZE - at) >>> 3);
            for (int j = 0; j < n; j++) {
                LONGS.setRelease(frame, FRAME_MARGIN + at + 8 * j, values[offset + i + j]);
            }
            i += n;
            pa += 8L * n;
        }
    }

    /**
     * Reads an aligned little-endian 32-bit value with acquire ordering: the 4-byte counterpart
     * of {@link #readLong}, for page-table formats with 32-bit entries.
     *
     * @param pa address, a multiple of 4
     * @return the value, 0 if never written
     * @throws InvalidArgumentException if {@code pa} is misaligned or outside this memory
     */
    public int readInt(long pa) {
        checkInt(pa);
        byte[] frame = frame(pa, false);
        return frame == null ? 0 : (int) INTS.getAcquire(frame, index(pa));
    }

    /**
     * Writes an aligned little-endian 32-bit value with release ordering: the 4-byte counterpart
     * of {@link #writeLong}.
     *
     * @param pa address, a multiple of 4
     * @param value the value
     * @throws InvalidArgumentException if {@code pa} is misaligned or outside this memory
     */
    public void writeInt(long pa, int value) {
        checkInt(pa);
        INTS.setRelease(frame(pa, true), index(pa), value);
    }

    /**
     * Writes {@code count} consecutive aligned little-endian 32-bit values, each with release
     * ordering exactly as {@link #writeInt} would, starting at {@code pa}: the 4-byte counterpart
     * of {@link #writeLongs}, for formats with 32-bit entries.
     *
     * @param pa address of the first value, a multiple of 4
     * @param values the values
     * @param offset index of the first value in {@code values}
     * @param count number of values
     * @throws InvalidArgumentException if {@code pa} is misaligned, the range is outside this
     *     memory, or the slice does not fit {@code values}; nothing is written
     */
    public void writeInts(long pa, int[] values, int offset, int count) {
        Objects.requireNonNull(values, "values");
        checkSlice(offset, count, values.length);
        if (count == 0) {
            return;
        }
        checkInt(pa);
        checkInt(pa + 4L * (count - 1));
        int i = 0;
        while (i < count) {
            byte[] frame = frame(pa, true);
            int at = (int) (pa & (FRAME_SIZE - 1));
            int n = Math.min(count - i, (FRAME_SIZE - at) >>> 2);
            for (int j = 0; j < n; j++) {
                INTS.setRelease(frame, FRAME_MARGIN + at + 4 * j, values[offset + i + j]);
            }
            i += n;
            pa += 4L * n;
        }
    }

    /**
     * Copies {@code length} bytes starting at {@code pa} into {@code dst}.
     *
     * @param pa first address
     * @param dst destination array
     * @param offset first index in {@code dst}
     * @param length number of bytes
     * @throws InvalidArgumentException if the range is outside this memory or the array
     */
    public void read(long pa, byte[] dst, int offset, int length) {
        Objects.requireNonNull(dst, "dst");
        checkRange(pa, length, dst.length, offset);
        while (length > 0) {
            int inFrame = (int) (pa & (FRAME_SIZE - 1));
            int n = Math.min(length, FRAME_SIZE - inFrame);
            byte[] frame = frame(pa, false);
            if (frame == null) {
                Arrays.fill(dst, offset, offset + n, (byte) 0);
            } else {
                System.arraycopy(frame, FRAME_MARGIN + inFrame, dst, offset, n);
            }
            pa += n;
            offset += n;
            length -= n;
        }
    }

    /**
     * Reads {@code length} bytes starting at {@code pa}.
     *
     * @param pa first address
     * @param length number of bytes
     * @return a new array
     * @throws InvalidArgumentException if the range is outside this memory
     */
    public byte[] read(long pa, int length) {
        if (length < 0) {
            throw new InvalidArgumentException("negative length " + length);
        }
        byte[] out = new byte[length];
        read(pa, out, 0, length);
        return out;
    }

    /**
     * Copies {@code length} bytes of {@code src} to memory starting at {@code pa}.
     *
     * @param pa first address
     * @param src source array
     * @param offset first index in {@code src}
     * @param length number of bytes
     * @throws InvalidArgumentException if the range is outside this memory or the array
     */
    public void write(long pa, byte[] src, int offset, int length) {
        Objects.requireNonNull(src, "src");
        checkRange(pa, length, src.length, offset);
        while (length > 0) {
            int inFrame = (int) (pa & (FRAME_SIZE - 1));
            int n = Math.min(length, FRAME_SIZE - inFrame);
            System.arraycopy(src, offset, frame(pa, true), FRAME_MARGIN + inFrame, n);
            pa += n;
            offset += n;
            length -= n;
        }
    }

    /**
     * Writes all of {@code src} starting at {@code pa}.
     *
     * @param pa first address
     * @param src the bytes
     * @throws InvalidArgumentException if the range is outside this memory
     */
    public void write(long pa, byte[] src) {
        write(pa, src, 0, Objects.requireNonNull(src, "src").length);
    }

    /**
     * Sets {@code length} bytes starting at {@code pa} to {@code value}. Filling with zero does not
     * back frames that were never written.
     *
     * @param pa first address
     * @param length number of bytes
     * @param value the byte to store
     * @throws InvalidArgumentException if the range is outside this memory
     */
    public void fill(long pa, long length, byte value) {
        if (length < 0 || !contains(pa, length)) {
            throw new InvalidArgumentException(
                    "fill of " + Hex.range(pa, length) + " is outside memory " + Hex.range(base, size));
        }
        while (length > 0) {
            int inFrame = (int) (pa & (FRAME_SIZE - 1));
            int n = (int) Math.min(length, FRAME_SIZE - inFrame);
            byte[] frame = frame(pa, value != 0);
            if (frame != null) {
                Arrays.fill(frame, FRAME_MARGIN + inFrame, FRAME_MARGIN + inFrame + n, value);
            }
            pa += n;
            length -= n;
        }
    }

    private void checkLong(long pa) {
        if ((pa & 7) != 0 || pa < base || pa > end() - 8) {
            throw new InvalidArgumentException("64-bit access at " + Hex.of(pa)
                    + " must be 8-byte aligned inside memory " + Hex.range(base, size));
        }
    }

    private void checkInt(long pa) {
        if ((pa & 3) != 0 || pa < base || pa > end() - 4) {
            throw new InvalidArgumentException("32-bit access at " + Hex.of(pa)
                    + " must be 4-byte aligned inside memory " + Hex.range(base, size));
        }
    }

    private void checkRange(long pa, int length, int arrayLength, int offset) {
        checkSlice(offset, length, arrayLength);
        if (!contains(pa, length)) {
            throw new InvalidArgumentException(
                    "access to " + Hex.range(pa, length) + " is outside memory " + Hex.range(base, size));
        }
    }

    private static void checkSlice(int offset, int count, int arrayLength) {
        if (count < 0 || offset < 0 || offset > arrayLength - count) {
            throw new InvalidArgumentException("array slice [" + offset + ", " + offset + "+" + count
                    + ") does not fit an array of " + arrayLength);
        }
    }

    /** Where the byte at {@code pa} sits in its frame's array: past the frame's leading margin. */
    private static int index(long pa) {
        return FRAME_MARGIN + (int) (pa & (FRAME_SIZE - 1));
    }

    private byte[] frame(long pa, boolean create) {
        long index = (pa - base) >>> FRAME_SHIFT;
        int chunkIndex = (int) (index >>> CHUNK_SHIFT);
        AtomicReferenceArray<byte[]> chunk = directory.get(chunkIndex);
        if (chunk == null) {
            if (!create) {
                return null;
            }
            directory.compareAndSet(chunkIndex, null, new AtomicReferenceArray<>(CHUNK_FRAMES));
            chunk = directory.get(chunkIndex);
        }
        int slot = (int) (index & (CHUNK_FRAMES - 1));
        byte[] frame = chunk.get(slot);
        if (frame == null && create) {
            if (chunk.compareAndSet(slot, null, new byte[FRAME_MARGIN + FRAME_SIZE + FRAME_MARGIN])) {
                touchedFrames.incrementAndGet();
            }
            frame = chunk.get(slot);
        }
        return frame;
    }

    @Override
    public String toString() {
        return "PhysicalMemory[" + Hex.range(base, size) + ", page " + Hex.size(pageSize) + ", touched "
                + Hex.of(touchedBytes()) + "]";
    }
}
