package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.dmashare.GranuleMismatchException;
import org.dmashare.MappingConflictException;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The sharing helper's guarantees (DESIGN.md "What a SharedBuffer guarantees") with DART domains
 * of every variant, on a kernel with 4 KiB CPU pages, and a share between a DART and a generic
 * {@code lpae-4k} domain. The DCP / display DART pair of the M1 is the model: the DCP on its own
 * DART, the display pipe on SID 0 and PIODMA on SID 4 of disp0.
 */
class DartSharingTest {
    private static final long SIZE = 100 * 1024;

    /** Two DARTs of one variant with a domain each, devices attached. */
    private static final class Rig {
        final PhysicalMemory memory = PhysicalMemory.create(Darts.RAM, 1L << 30, 4096);
        final DartIommu dcpDart;
        final DartIommu dispDart;
        final DartDomain dcp;
        final DartDomain disp;
        final DartDomain piodma;
        final DmaSharing sharing = new DmaSharing(memory);

        Rig(String variant) {
            dcpDart = Darts.dart(IommuConfig.builder(variant).name("dart-dcp"), memory);
            dispDart = Darts.dart(IommuConfig.builder(variant).name("dart-disp0"), memory);
            dcp = (DartDomain) dcpDart.createDomain();
            disp = (DartDomain) dispDart.createDomain();
            piodma = (DartDomain) dispDart.createDomain();
            dcpDart.device(0).attach(dcp);
            dispDart.device(0).attach(disp);
            dispDart.device(4).attach(piodma);
        }

        DmaDevice device(DartDomain d) {
            return d.devices().iterator().next();
        }
    }

    private static byte[] pattern(int n) {
        byte[] p = new byte[n];
        for (int i = 0; i < n; i++) {
            p[i] = (byte) (i * 31 + 7);
        }
        return p;
    }

    private static void assertContiguous(SharedBuffer b, IommuDomain d, int sid) {
        long iova = b.iova(d);
        assertThat(iova % b.alignment()).isZero();
        for (long o = 0; o < b.length(); o += 0x1000) {
            long off = o;
            assertThat(d.iommu().walk(sid, iova + off))
                    .as("offset %x", off)
                    .hasValueSatisfying(t -> assertThat(t.pa()).isEqualTo(b.physicalAddress(off)));
        }
        assertThat(d.iommu().walk(sid, iova - 1)).isEmpty();
        assertThat(d.iommu().walk(sid, iova + b.length())).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void sharedBufferIsContiguousAlignedAndNotOverExposedInEveryDartDomain(String variant) {
        Rig r = new Rig(variant);
        try (SharedBuffer b = r.sharing.allocate(SIZE, List.of(r.dcp, r.disp))) {
            assertThat(b.alignment()).isEqualTo(0x4000);
            assertThat(b.length()).isEqualTo(0x1C000);
            for (ScatterList.Segment s : b.blocks()) {
                assertThat(s.pa() % 0x4000).isZero();
                assertThat(s.length() % 0x4000).isZero();
            }
            assertContiguous(b, r.dcp, 0);
            assertContiguous(b, r.disp, 0);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void devicesOnTwoDartsSeeTheSameBytes(String variant) {
        Rig r = new Rig(variant);
        try (SharedBuffer b = r.sharing.allocate(SIZE, List.of(r.dcp, r.disp))) {
            byte[] data = pattern((int) SIZE);
            b.write(0, data);
            assertThat(r.device(r.dcp).read(b.iova(r.dcp), data.length)).isEqualTo(data);
            byte[] reply = pattern(5000);
            r.device(r.disp).write(b.iova(r.disp) + 0x3ffe, reply);
            assertThat(r.device(r.dcp).read(b.iova(r.dcp) + 0x3ffe, reply.length))
                    .isEqualTo(reply);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void closeFlushesIotlbBeforeFreeingPages(String variant) {
        Rig r = new Rig(variant);
        PageAllocator.Usage before = r.memory.allocator().usage();
        SharedBuffer b = r.sharing.allocate(SIZE, List.of(r.dcp, r.disp));
        long iova = b.iova(r.dcp);
        r.device(r.dcp).read(iova, 16);
        b.close();
        b.close();
        assertThatThrownBy(() -> r.device(r.dcp).read(iova, 16)).isInstanceOf(DeviceFaultException.class);
        PageAllocator.Usage after = r.memory.allocator().usage();
        assertThat(after.bufferBytes()).as("every buffer page back").isEqualTo(before.bufferBytes());
        assertThat(r.sharing.liveBuffers()).isZero();
        // io-pgtable-dart keeps the tables until the domain is freed: the next share allocates none.
        r.sharing.allocate(SIZE, List.of(r.dcp, r.disp)).close();
        assertThat(r.memory.allocator().usage()).isEqualTo(after);
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void failedAllocationLeavesDomainsAllocatorsAndMemoryAsBefore(String variant) {
        Rig r = new Rig(variant);
        PageAllocator.Usage before = r.memory.allocator().usage();
        int dcpRanges = r.dcp.iovaSpace().liveRanges();
        r.memory.failures().failNth(FailureInjector.Point.MAP, 2);
        assertThatThrownBy(() -> r.sharing.allocate(SIZE, List.of(r.dcp, r.disp)))
                .isInstanceOf(MappingConflictException.class);
        r.memory.failures().clear();
        PageAllocator.Usage after = r.memory.allocator().usage();
        assertThat(after.bufferBytes()).isEqualTo(before.bufferBytes());
        assertThat(r.dcp.iovaSpace().liveRanges()).isEqualTo(dcpRanges);
        // The map into dcp succeeded and was undone by an unmap, which keeps its tables (the root
        // and one table per level below, mapping nothing) until the domain is freed, as Linux.
        int levels = r.dcp.table().format().levels();
        assertThat(r.dcp.table().tablePages()).hasSize(levels);
        assertThat(PageTableWalker.leaves(
                        r.memory, r.dcp.table().format(), r.dcp.table().rootPa()))
                .isEmpty();
        assertThat(r.disp.table().tablePages())
                .as("the failed map changed nothing")
                .hasSize(1);
        assertThat(after.tableBytes())
                .isEqualTo(before.tableBytes() + (levels - 1) * r.dcp.table().tablePageBytes());
        assertThat(r.dcpDart.iotlbSize()).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void bufferSharedLaterWithPiodmaStream(String variant) {
        Rig r = new Rig(variant);
        ShareOptions later = ShareOptions.builder().futureDomains(r.piodma).build();
        try (SharedBuffer b = r.sharing.allocate(SIZE, List.of(r.dcp), later)) {
            b.write(0, pattern((int) SIZE));
            long iova = b.shareWith(r.piodma);
            assertContiguous(b, r.piodma, 4);
            assertThat(r.dispDart.device(4).read(iova, (int) SIZE)).isEqualTo(pattern((int) SIZE));
            assertThatThrownBy(() -> r.dispDart.device(0).read(iova, 4)).isInstanceOf(DeviceFaultException.class);
        }
    }

    @Test
    void identicalIovaInBothDarts() {
        Rig r = new Rig("t8020");
        ShareOptions same = ShareOptions.builder().identicalIova(true).build();
        try (SharedBuffer b = r.sharing.allocate(SIZE, List.of(r.dcp, r.disp), same)) {
            assertThat(b.iova(r.dcp)).isEqualTo(b.iova(r.disp));
            assertContiguous(b, r.dcp, 0);
            assertContiguous(b, r.disp, 0);
        }
    }

    @Test
    void importRefusesSegmentsAlignedOnlyToTheCpuPage() {
        Rig r = new Rig("t6000");
        PageLease lease = r.sharing.allocatePages(0x10000, 0x10000);
        long block = lease.pages().segments().get(0).pa();
        ScatterList unsafe =
                ScatterList.of(new ScatterList.Segment(block, 0x4000), new ScatterList.Segment(block + 0x5000, 0x1000));
        assertThatThrownBy(() -> r.sharing.importScatterList(lease, unsafe, List.of(r.dcp), ShareOptions.DEFAULTS))
                .isInstanceOf(UnsafeScatterListException.class)
                .hasMessageContaining("segment 1");
        ScatterList safe = ScatterList.of(new ScatterList.Segment(block + 0x8000, 0x8000));
        try (SharedBuffer b = r.sharing.importScatterList(lease, safe, List.of(r.dcp, r.disp), ShareOptions.DEFAULTS)) {
            assertContiguous(b, r.disp, 0);
        }
        assertThat(r.memory.allocator().isAllocated(block, 0x10000))
                .as("the lease still holds its pages")
                .isTrue();
        lease.close();
        assertThat(r.memory.allocator().isAllocated(block, 0x4000))
                .as("the last holder freed them")
                .isFalse();
    }

    @Test
    void dartAndLpae4kDomainsShareWithSixteenKibAlignment() {
        PhysicalMemory memory = PhysicalMemory.create(Darts.RAM, 1L << 30, 4096);
        Iommu lpae = IommuBackends.find("generic")
                .create(IommuConfig.builder("lpae-4k").name("gpu").build(), memory);
        DartIommu dart = Darts.dart("t8020", memory);
        IommuDomain gpu = lpae.createDomain();
        DartDomain dcp = (DartDomain) dart.createDomain();
        lpae.device(1).attach(gpu);
        dart.device(0).attach(dcp);
        DmaSharing sharing = new DmaSharing(memory);
        try (SharedBuffer b = sharing.allocate(SIZE, List.of(gpu, dcp))) {
            assertThat(b.alignment()).isEqualTo(0x4000);
            assertThat(b.iova(gpu) % 0x4000).isZero();
            assertContiguous(b, gpu, 1);
            assertContiguous(b, dcp, 0);
            byte[] data = pattern((int) SIZE);
            lpae.device(1).write(b.iova(gpu), data);
            assertThat(dart.device(0).read(b.iova(dcp), data.length)).isEqualTo(data);
        }
        IommuDomain gpuLate = lpae.createDomain();
        try (SharedBuffer b = sharing.allocate(SIZE, List.of(gpuLate))) {
            assertThatThrownBy(() -> b.shareWith(dcp))
                    .isInstanceOf(GranuleMismatchException.class)
                    .hasMessageContaining("16 KiB")
                    .hasMessageContaining("4 KiB");
        }
    }

    @Test
    void concurrentSharesAcrossDartsLeakNothing() throws Exception {
        Rig r = new Rig("t8110");
        PageAllocator.Usage before = r.memory.allocator().usage();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int seed = t;
                jobs.add(pool.submit(() -> {
                    for (int i = 0; i < 50; i++) {
                        long size = 0x1000L * (1 + (seed * 7 + i) % 40);
                        try (SharedBuffer b = r.sharing.allocate(size, List.of(r.dcp, r.disp))) {
                            byte[] data = pattern((int) size);
                            r.device(r.dcp).write(b.iova(r.dcp), data);
                            assertThat(r.device(r.disp).read(b.iova(r.disp), data.length))
                                    .isEqualTo(data);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : jobs) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        PageAllocator.Usage after = r.memory.allocator().usage();
        assertThat(after.bufferBytes()).isEqualTo(before.bufferBytes());
        // Tables live until the domain is freed: each table page is one of the two domains', mapping nothing.
        long kept = 0;
        for (DartDomain d : List.of(r.dcp, r.disp)) {
            assertThat(PageTableWalker.leaves(
                            r.memory, d.table().format(), d.table().rootPa()))
                    .isEmpty();
            kept += (d.table().tablePages().size() - 1) * d.table().tablePageBytes();
        }
        assertThat(after.tableBytes()).isEqualTo(before.tableBytes() + kept);
    }
}
