package org.dmashare.sharing;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;

/**
 * An immutable list of physical memory segments, in buffer order: byte {@code o} of the described
 * buffer is at the segment containing offset {@code o} when the segments are laid end to end.
 */
public final class ScatterList implements Iterable<ScatterList.Segment> {

    /**
     * One physically contiguous segment.
     *
     * @param pa first physical address
     * @param length bytes, positive
     */
    public record Segment(long pa, long length) {
        /**
         * Validates the segment.
         *
         * @param pa first physical address, not negative
         * @param length bytes, positive, with {@code pa + length} not overflowing
         * @throws InvalidArgumentException if not
         */
        public Segment {
            if (pa < 0 || length <= 0 || pa > Long.MAX_VALUE - length) {
                throw new InvalidArgumentException(
                        "a segment needs pa >= 0 and a positive length without overflow, got pa " + Hex.of(pa)
                                + " length " + Hex.of(length));
            }
        }

        /**
         * One past the last address.
         *
         * @return {@code pa + length}
         */
        public long end() {
            return pa + length;
        }

        @Override
        public String toString() {
            return Hex.range(pa, length);
        }
    }

    private final List<Segment> segments;
    private final long totalLength;

    private ScatterList(List<Segment> segments) {
        this.segments = List.copyOf(segments);
        long total = 0;
        for (Segment s : this.segments) {
            if (total > Long.MAX_VALUE - s.length()) {
                throw new InvalidArgumentException("scatter list total length overflows");
            }
            total += s.length();
        }
        if (this.segments.isEmpty()) {
            throw new InvalidArgumentException("a scatter list needs at least one segment");
        }
        this.totalLength = total;
    }

    /**
     * A list of the given segments, in order.
     *
     * @param segments at least one
     * @return the list
     * @throws InvalidArgumentException if empty or the total overflows
     */
    public static ScatterList of(List<Segment> segments) {
        Objects.requireNonNull(segments, "segments");
        segments.forEach(s -> Objects.requireNonNull(s, "segment"));
        return new ScatterList(segments);
    }

    /**
     * A list of the given segments, in order.
     *
     * @param segments at least one
     * @return the list
     * @throws InvalidArgumentException if empty or the total overflows
     */
    public static ScatterList of(Segment... segments) {
        return of(List.of(segments));
    }

    /**
     * The segments in buffer order.
     *
     * @return an immutable list
     */
    public List<Segment> segments() {
        return segments;
    }

    /**
     * Number of segments.
     *
     * @return the count
     */
    public int size() {
        return segments.size();
    }

    /**
     * Sum of the segment lengths.
     *
     * @return bytes
     */
    public long totalLength() {
        return totalLength;
    }

    /**
     * The same bytes with physically adjacent segments merged, as {@code iommu_map_sg} merges
     * runs before mapping.
     *
     * @return a list with no two consecutive segments adjacent in memory
     */
    public ScatterList merged() {
        if (segments.size() == 1) {
            return this; // the common case on the share path: nothing to merge, nothing to allocate
        }
        List<Segment> out = new ArrayList<>();
        Segment run = null;
        for (Segment s : segments) {
            if (run != null && run.end() == s.pa()) {
                run = new Segment(run.pa(), run.length() + s.length());
            } else {
                if (run != null) {
                    out.add(run);
                }
                run = s;
            }
        }
        out.add(run);
        return out.size() == segments.size() ? this : new ScatterList(out);
    }

    /**
     * The physical address of byte {@code offset} of the described buffer.
     *
     * @param offset 0 .. totalLength()-1
     * @return the physical address
     * @throws InvalidArgumentException if the offset is outside the list
     */
    public long physicalAddress(long offset) {
        if (offset < 0 || offset >= totalLength) {
            throw new InvalidArgumentException(
                    "offset " + Hex.of(offset) + " is outside the list's " + Hex.size(totalLength));
        }
        for (Segment s : segments) {
            if (offset < s.length()) {
                return s.pa() + offset;
            }
            offset -= s.length();
        }
        throw new AssertionError("unreachable");
    }

    @Override
    public Iterator<Segment> iterator() {
        return segments.iterator();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ScatterList && ((ScatterList) o).segments.equals(segments);
    }

    @Override
    public int hashCode() {
        return segments.hashCode();
    }

    @Override
    public String toString() {
        return "ScatterList" + segments + " (" + Hex.size(totalLength) + ")";
    }
}
