package org.dmashare.dmaapi;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.TreeMap;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.ScatterList;

/**
 * What a device can reach through an IOVA range, found by walking its IOMMU's page tables in
 * memory ({@link org.dmashare.iommu.Iommu#walk}, the hardware side, never the software side of
 * the domain), and which of those physical bytes do not belong to the buffer the range was
 * mapped for: the over-exposure.
 *
 * @param device the device's name
 * @param iova first IOVA scanned
 * @param length bytes scanned
 * @param reachable every translated run in the range: IOVA-contiguous, physically contiguous, same
 *     rights
 * @param exposed the parts of {@code reachable} outside the buffer's own physical ranges, split
 *     where the page allocator's state changes
 */
public record ExposureReport(String device, long iova, long length, List<Reach> reachable, List<Exposure> exposed) {

    /**
     * A run of IOVAs translating to consecutive physical addresses.
     *
     * @param iova first IOVA
     * @param pa physical address it reaches
     * @param length bytes
     * @param prot the rights of the leaf entries
     */
    public record Reach(long iova, long pa, long length, Prot prot) {
        @Override
        public String toString() {
            return "IOVA " + Hex.range(iova, length) + " -> PA " + Hex.range(pa, length) + " " + prot;
        }
    }

    /**
     * Physical bytes reachable by the device that are not the buffer's.
     *
     * @param iova the IOVA at which the device reaches {@code pa}
     * @param pa first physical address
     * @param length bytes
     * @param prot what the device may do there
     * @param free whether the page allocator counts these pages as free right now (memory that
     *     may be handed to anyone next), as opposed to allocated to some other owner
     */
    public record Exposure(long iova, long pa, long length, Prot prot, boolean free) {
        /**
         * One past the last physical address.
         *
         * @return {@code pa + length}
         */
        public long paEnd() {
            return pa + length;
        }

        @Override
        public String toString() {
            return "PA " + Hex.range(pa, length) + " (" + Hex.size(length) + ", " + (free ? "free" : "allocated")
                    + ") at IOVA " + Hex.of(iova) + " " + prot;
        }
    }

    /**
     * Copies the lists.
     *
     * @param device name
     * @param iova first IOVA
     * @param length bytes scanned
     * @param reachable runs
     * @param exposed exposures
     */
    public ExposureReport {
        Objects.requireNonNull(device, "device");
        reachable = List.copyOf(reachable);
        exposed = List.copyOf(exposed);
    }

    /**
     * Total bytes exposed.
     *
     * @return the sum of the exposures' lengths
     */
    public long exposedBytes() {
        return exposed.stream().mapToLong(Exposure::length).sum();
    }

    /**
     * Total bytes reachable in the scanned range.
     *
     * @return the sum of the reachable runs
     */
    public long reachableBytes() {
        return reachable.stream().mapToLong(Reach::length).sum();
    }

    /**
     * Whether the device reaches nothing outside the buffer.
     *
     * @return true if nothing is exposed
     */
    public boolean isClean() {
        return exposed.isEmpty();
    }

    /**
     * Scans what a coherent buffer's device reaches around the buffer's DMA handle: the granules
     * from down(handle) to up(handle + size), against the pages the buffer owns.
     *
     * @param buffer a live buffer
     * @return the report
     */
    public static ExposureReport forBuffer(CoherentBuffer buffer) {
        Objects.requireNonNull(buffer, "buffer");
        LinuxDevice dev = buffer.device();
        long g = dev.granule();
        long start = buffer.dmaHandle() & -g;
        long end = (buffer.dmaHandle() + buffer.size() + g - 1) & -g;
        return scan(dev.dmaDevice(), start, end - start, buffer.ownedRanges());
    }

    /**
     * Scans what a device reaches through a table it mapped: the granules from the first DMA
     * segment to the end of the last, against the table's own entries ({@code sg_phys},
     * {@code length}).
     *
     * @param device the device that mapped it
     * @param sgt the mapped table
     * @return the report
     * @throws InvalidArgumentException if the table is not mapped
     */
    public static ExposureReport forMapping(LinuxDevice device, SgTable sgt) {
        Objects.requireNonNull(sgt, "sgt");
        return forMapping(device, sgt, sgt.cpuSegments());
    }

    /**
     * What {@code device} reaches through the granule-aligned IOVA span of its mapping of
     * {@code sgt}, judged against {@code owned}: for example the whole coherent allocation the
     * table was exported from, when only memory outside that allocation counts as exposed.
     *
     * @param device the device the table is mapped for
     * @param sgt a table mapped for {@code device}
     * @param owned the physical ranges that belong to the buffer
     * @return the report
     * @throws InvalidArgumentException if the table is not mapped
     */
    public static ExposureReport forMapping(LinuxDevice device, SgTable sgt, ScatterList owned) {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(sgt, "sgt");
        Objects.requireNonNull(owned, "owned");
        List<DmaSegment> segs = sgt.dmaSegments();
        if (segs.isEmpty()) {
            throw new InvalidArgumentException("table " + sgt + " is not mapped");
        }
        long g = device.granule();
        long start = segs.get(0).address() & -g;
        long end = (segs.get(segs.size() - 1).end() + g - 1) & -g;
        return scan(device.dmaDevice(), start, end - start, owned);
    }

    /**
     * Scans every IOVA range the device's domain has allocated through iommu-dma (including ranges
     * parked in the range cache, which are unmapped) and reports what the device reaches outside
     * {@code owned}, for example the union of every buffer it was legitimately given. The report's
     * {@code iova} and {@code length} span the lowest to the highest range scanned.
     *
     * @param device the device
     * @param owned the physical ranges it is meant to reach
     * @return the report; empty when the domain has no ranges
     */
    public static ExposureReport forDevice(LinuxDevice device, ScatterList owned) {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(owned, "owned");
        int shift = device.iovaDomain().shift();
        List<Reach> reach = new ArrayList<>();
        List<Exposure> exposed = new ArrayList<>();
        long lo = Long.MAX_VALUE;
        long hi = 0;
        for (var e : new TreeMap<>(device.iovaDomain().liveRanges()).entrySet()) {
            long start = e.getKey() << shift;
            long len = e.getValue() << shift;
            ExposureReport part = scan(device.dmaDevice(), start, len, owned);
            reach.addAll(part.reachable());
            exposed.addAll(part.exposed());
            lo = Math.min(lo, start);
            hi = Math.max(hi, start + len);
        }
        return new ExposureReport(
                device.dmaDevice().toString(),
                lo == Long.MAX_VALUE ? 0 : lo,
                lo == Long.MAX_VALUE ? 0 : hi - lo,
                reach,
                exposed);
    }

    /**
     * Walks {@code [iova, iova + length)} for {@code device} through the tables in memory and
     * reports what it reaches outside {@code owned}.
     *
     * @param device the device (its stream and attached domain decide the walk)
     * @param iova first IOVA, granule-aligned
     * @param length bytes, a positive multiple of the granule
     * @param owned the buffer's physical ranges
     * @return the report
     * @throws InvalidArgumentException if the device has no domain or the range is misaligned
     */
    public static ExposureReport scan(DmaDevice device, long iova, long length, ScatterList owned) {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(owned, "owned");
        IommuDomain domain =
                device.domain().orElseThrow(() -> new InvalidArgumentException(device + " is attached to no domain"));
        long g = domain.granule();
        if ((iova & (g - 1)) != 0 || length <= 0 || (length & (g - 1)) != 0) {
            throw new InvalidArgumentException("exposure scan of " + Hex.range(iova, length)
                    + " must be non-empty and aligned to the granule " + Hex.size(g));
        }
        List<Reach> reach = new ArrayList<>();
        long at = iova;
        long end = iova + length;
        while (at < end) {
            Translation t = device.iommu().walk(device.streamId(), at).orElse(null);
            long leafLeft = t == null ? g - (at & (g - 1)) : t.pageSize() - (at & (t.pageSize() - 1));
            long step = Math.min(leafLeft, end - at);
            if (t != null) {
                Reach last = reach.isEmpty() ? null : reach.get(reach.size() - 1);
                if (last != null
                        && last.iova() + last.length() == at
                        && last.pa() + last.length() == t.pa()
                        && last.prot().equals(t.prot())) {
                    reach.set(reach.size() - 1, new Reach(last.iova(), last.pa(), last.length() + step, last.prot()));
                } else {
                    reach.add(new Reach(at, t.pa(), step, t.prot()));
                }
            }
            at += step;
        }
        List<ScatterList.Segment> mine = new ArrayList<>(owned.segments());
        mine.sort(Comparator.comparingLong(ScatterList.Segment::pa));
        PhysicalMemory memory = device.iommu().memory();
        List<Exposure> exposed = new ArrayList<>();
        for (Reach r : reach) {
            long pa = r.pa();
            long stop = r.pa() + r.length();
            while (pa < stop) {
                long next = stop;
                boolean inside = false;
                for (ScatterList.Segment s : mine) {
                    if (s.pa() <= pa && pa < s.end()) {
                        inside = true;
                        next = Math.min(stop, s.end());
                        break;
                    }
                    if (s.pa() > pa) {
                        next = Math.min(next, s.pa());
                    }
                }
                if (!inside) {
                    addSplitByState(exposed, memory, r.iova() + (pa - r.pa()), pa, next - pa, r.prot());
                }
                pa = next;
            }
        }
        return new ExposureReport(device.toString(), iova, length, reach, exposed);
    }

    private static void addSplitByState(
            List<Exposure> out, PhysicalMemory memory, long iova, long pa, long length, Prot prot) {
        PageAllocator allocator = memory.allocator();
        long page = memory.pageSize();
        long end = pa + length;
        while (pa < end) {
            long stop = Math.min(end, (pa & -page) + page);
            boolean free = !memory.contains(pa, 1) || !allocator.isAllocated(pa & -page, page);
            Exposure last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null
                    && last.paEnd() == pa
                    && last.iova() + last.length() == iova
                    && last.free() == free
                    && last.prot().equals(prot)) {
                out.set(out.size() - 1, new Exposure(last.iova(), last.pa(), last.length() + stop - pa, prot, free));
            } else {
                out.add(new Exposure(iova, pa, stop - pa, prot, free));
            }
            iova += stop - pa;
            pa = stop;
        }
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(device)
                .append(": ")
                .append(Hex.size(reachableBytes()))
                .append(" reachable in IOVA ")
                .append(Hex.range(iova, length))
                .append(", ")
                .append(exposedBytes() == 0 ? "nothing" : Hex.size(exposedBytes()))
                .append(" exposed");
        exposed.forEach(e -> b.append("\n  ").append(e));
        return b.toString();
    }
}
