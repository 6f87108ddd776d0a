package org.dmashare.dmaapi;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.sharing.ScatterList;

/**
 * A scatter-gather table ({@code struct sg_table}): {@link #origNents()} entries describing a
 * buffer in CPU terms, and after mapping {@link #nents()} output entries carrying DMA segments.
 * Mutable as in Linux: map_sg rewrites the entries in place while it works and restores their CPU
 * fields before it returns (or fails). Not thread-safe; one owner at a time, as in the kernel.
 */
public final class SgTable {
    /** The value of an unset {@code sg_dma_address} (Linux {@code DMA_MAPPING_ERROR}, ~0). */
    public static final long DMA_MAPPING_ERROR = ~0L;
    /** Longest entry {@code sg_alloc_table_from_pages} builds: UINT_MAX rounded down to a 4 KiB page. */
    static final long MAX_TABLE_SEGMENT = 0xFFFF_F000L;

    private final int pageSize;
    private final long[] page;
    private final long[] offset;
    private final long[] length;
    private final long[] dmaAddress;
    private final long[] dmaLength;
    private int nents;

    private SgTable(int pageSize, int count) {
        this.pageSize = pageSize;
        this.page = new long[count];
        this.offset = new long[count];
        this.length = new long[count];
        this.dmaAddress = new long[count];
        this.dmaLength = new long[count];
        Arrays.fill(dmaAddress, DMA_MAPPING_ERROR);
        this.nents = count;
    }

    /**
     * A table with one entry per segment of {@code list}, in order and not merged, as a driver
     * fills entries with {@code sg_set_page}: each entry's page is the CPU page holding the
     * segment's first byte and its offset the rest.
     *
     * @param list the buffer's physical segments
     * @param pageSize the CPU page size
     * @return the table, unmapped
     * @throws InvalidArgumentException if the page size is not a power of two
     */
    public static SgTable of(ScatterList list, int pageSize) {
        Objects.requireNonNull(list, "list");
        checkPageSize(pageSize);
        SgTable t = new SgTable(pageSize, list.size());
        int i = 0;
        for (ScatterList.Segment s : list) {
            t.page[i] = s.pa() & -(long) pageSize;
            t.offset[i] = s.pa() - t.page[i];
            t.length[i] = s.length();
            i++;
        }
        return t;
    }

    /**
     * Builds a table from an array of pages the way {@code sg_alloc_table_from_pages} does: one
     * entry per maximal run of physically consecutive pages (runs are also cut at
     * {@code 0xFFFF_F000} bytes), the first entry starting {@code offset} into the first page,
     * entry lengths clamped so they add up to exactly {@code size}.
     *
     * @param pages physical addresses of the pages, in buffer order
     * @param offset offset of the data in the first page
     * @param size total bytes described; at most the pages' extent minus {@code offset}
     * @param pageSize the CPU page size
     * @return the table, unmapped
     * @throws InvalidArgumentException if the size does not fit the pages or a page is misaligned
     */
    public static SgTable fromPages(long[] pages, long offset, long size, int pageSize) {
        Objects.requireNonNull(pages, "pages");
        checkPageSize(pageSize);
        if (pages.length == 0
                || offset < 0
                || offset >= pageSize
                || size <= 0
                || size > (long) pages.length * pageSize - offset) {
            throw new InvalidArgumentException("sg_alloc_table_from_pages of " + pages.length + " pages, offset "
                    + Hex.of(offset) + ", size " + Hex.of(size) + ": the size must be positive and fit the pages");
        }
        List<long[]> runs = new ArrayList<>();
        long runStart = -1;
        long runLen = 0;
        for (long p : pages) {
            if ((p & (pageSize - 1)) != 0) {
                throw new InvalidArgumentException(
                        "page address " + Hex.of(p) + " is not aligned to " + Hex.size(pageSize));
            }
            if (runStart >= 0 && p == runStart + runLen && runLen + pageSize <= MAX_TABLE_SEGMENT) {
                runLen += pageSize;
            } else {
                if (runStart >= 0) {
                    runs.add(new long[] {runStart, runLen});
                }
                runStart = p;
                runLen = pageSize;
            }
        }
        runs.add(new long[] {runStart, runLen});
        List<long[]> entries = new ArrayList<>();
        long left = size;
        long off = offset;
        for (long[] r : runs) {
            if (left == 0) {
                break;
            }
            long len = Math.min(r[1] - off, left);
            entries.add(new long[] {r[0], off, len});
            left -= len;
            off = 0;
        }
        SgTable t = new SgTable(pageSize, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            t.page[i] = entries.get(i)[0];
            t.offset[i] = entries.get(i)[1];
            t.length[i] = entries.get(i)[2];
        }
        return t;
    }

    /** One entry: {@code page}, offset 0, {@code length} bytes ({@code sg_set_page} on a one-entry table). */
    static SgTable single(long pagePa, long length, int pageSize) {
        SgTable t = new SgTable(pageSize, 1);
        t.page[0] = pagePa;
        t.length[0] = length;
        return t;
    }

    private static void checkPageSize(int pageSize) {
        if (pageSize <= 0 || Integer.bitCount(pageSize) != 1) {
            throw new InvalidArgumentException("page size must be a power of two, got " + pageSize);
        }
    }

    /**
     * The CPU page size the table's pages are counted in.
     *
     * @return bytes
     */
    public int pageSize() {
        return pageSize;
    }

    /**
     * Number of CPU entries ({@code orig_nents}).
     *
     * @return the count
     */
    public int origNents() {
        return page.length;
    }

    /**
     * Number of DMA segments after {@link LinuxDevice#mapSgtable}; {@link #origNents()} before.
     *
     * @return the count
     */
    public int nents() {
        return nents;
    }

    void setNents(int n) {
        nents = n;
    }

    /**
     * A snapshot of every entry, CPU and DMA fields.
     *
     * @return {@link #origNents()} entries
     */
    public List<SgEntry> entries() {
        List<SgEntry> out = new ArrayList<>(page.length);
        for (int i = 0; i < page.length; i++) {
            out.add(entry(i));
        }
        return List.copyOf(out);
    }

    /**
     * A snapshot of entry {@code i}.
     *
     * @param i 0 .. origNents()-1
     * @return the entry
     */
    public SgEntry entry(int i) {
        return new SgEntry(page[i], offset[i], length[i], dmaAddress[i], dmaLength[i]);
    }

    /**
     * The DMA segments of a mapped table: the DMA fields of its first {@link #nents()} entries
     * that have a non-zero DMA length.
     *
     * @return the segments in order, empty if the table is not mapped
     */
    public List<DmaSegment> dmaSegments() {
        List<DmaSegment> out = new ArrayList<>();
        for (int i = 0; i < Math.min(nents, page.length); i++) {
            if (dmaLength[i] == 0) {
                break;
            }
            out.add(new DmaSegment(dmaAddress[i], dmaLength[i]));
        }
        return List.copyOf(out);
    }

    /**
     * The buffer as physical segments in CPU terms ({@code sg_phys}, {@code length} of each entry).
     *
     * @return the list, not merged
     */
    public ScatterList cpuSegments() {
        List<ScatterList.Segment> out = new ArrayList<>(page.length);
        for (int i = 0; i < page.length; i++) {
            out.add(new ScatterList.Segment(page[i] + offset[i], length[i]));
        }
        return ScatterList.of(out);
    }

    /**
     * Sum of the CPU entry lengths.
     *
     * @return bytes
     */
    public long totalLength() {
        long t = 0;
        for (long l : length) {
            t += l;
        }
        return t;
    }

    // ---- in-place access for the model ----

    long page(int i) {
        return page[i];
    }

    long offset(int i) {
        return offset[i];
    }

    long length(int i) {
        return length[i];
    }

    long dmaAddress(int i) {
        return dmaAddress[i];
    }

    long dmaLength(int i) {
        return dmaLength[i];
    }

    long phys(int i) {
        return page[i] + offset[i];
    }

    void setPage(int i, long pagePa, long len, long off) {
        page[i] = pagePa;
        length[i] = len;
        offset[i] = off;
    }

    void setLength(int i, long len) {
        length[i] = len;
    }

    void setOffset(int i, long off) {
        offset[i] = off;
    }

    void setDma(int i, long address, long len) {
        dmaAddress[i] = address;
        dmaLength[i] = len;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("SgTable[orig_nents ")
                .append(page.length)
                .append(", nents ")
                .append(nents);
        for (int i = 0; i < page.length; i++) {
            b.append("; ").append(entry(i));
        }
        return b.append(']').toString();
    }
}
