package org.dmashare.examples.dcp;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.inject.Guice;
import com.google.inject.Injector;
import java.util.List;
import org.dmashare.dmaapi.Errno;
import org.dmashare.dmaapi.IommuDma;
import org.dmashare.dmaapi.Profile;
import org.dmashare.examples.dcp.DcpEndpoint.AllocateBufferRequest;
import org.dmashare.examples.dcp.DcpEndpoint.AllocateBufferResponse;
import org.dmashare.examples.dcp.DcpEndpoint.MapPiodmaRequest;
import org.dmashare.examples.dcp.DcpEndpoint.MapPiodmaResponse;
import org.dmashare.iommu.IommuApi;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/** The DCP endpoint callbacks, legacy and migrated, on the Guice-wired M1-like platform. */
class DcpEndpointTest {

    private static Injector injector(int pageSize) {
        return Guice.createInjector(new DcpPlatformModule(pageSize));
    }

    @Test
    void platformPutsDcpOnStreamZeroAndPiodmaOnStreamFourOfTwoT8020Darts() {
        DcpPlatform p = injector(4096).getInstance(DcpPlatform.class);
        assertThat(p.dcp().streamId()).isZero();
        assertThat(p.piodma().streamId()).isEqualTo(4);
        assertThat(p.dcp().iommu().variant().name()).isEqualTo("t8020");
        assertThat(p.piodma().iommu().name()).isEqualTo("disp0-dart");
        assertThat(p.dcpDomain().granule()).isEqualTo(0x4000);
        assertThat(p.memory().base()).isEqualTo(0x8_0000_0000L);
    }

    @Test
    void migratedEndpointNeverIssuesIdZeroAndSharesContiguouslyWithPiodma() {
        Injector inj = injector(4096);
        DcpPlatform p = inj.getInstance(DcpPlatform.class);
        p.fragment(DcpDemo.FRAGMENTED);
        MigratedDcpEndpoint ep = new MigratedDcpEndpoint(p, inj.getInstance(DmaSharing.class), false);
        AllocateBufferResponse a = ep.allocateBuffer(new AllocateBufferRequest(20 << 10));
        assertThat(a.ret()).isZero();
        assertThat(a.memDescId()).isEqualTo(1);
        MapPiodmaResponse m = ep.mapPiodma(new MapPiodmaRequest(a.memDescId()));
        assertThat(m.ret()).isZero();
        assertThat(m.vaddr()).as("no kernel address for the coprocessor").isZero();
        SharedBuffer b = ep.buffer(a.memDescId());
        assertThat(b.alignment()).isEqualTo(0x4000);
        for (long o = 0; o < b.length(); o += 0x1000) {
            long offset = o;
            assertThat(p.piodma().iommu().walk(4, m.dva() + o).map(t -> t.pa()).orElse(-1L))
                    .as("PIODMA offset %x", offset)
                    .isEqualTo(b.physicalAddress(o));
        }
        assertThat(ep.mapPiodma(new MapPiodmaRequest(a.memDescId())).dva())
                .as("mapping twice is idempotent")
                .isEqualTo(m.dva());
    }

    @Test
    void migratedEndpointChecksBoundsBeforeConsumingIdsAndReportsAFullTable() {
        Injector inj = injector(4096);
        DcpPlatform p = inj.getInstance(DcpPlatform.class);
        MigratedDcpEndpoint ep = new MigratedDcpEndpoint(p, inj.getInstance(DmaSharing.class), false);
        for (int bad : new int[] {0, -1, 1, MigratedDcpEndpoint.MAX_BUFFERS, Integer.MAX_VALUE}) {
            assertThat(ep.mapPiodma(new MapPiodmaRequest(bad)).ret())
                    .as("map_piodma(%d)", bad)
                    .isEqualTo(Errno.EINVAL.negative());
        }
        for (int i = 1; i < MigratedDcpEndpoint.MAX_BUFFERS; i++) {
            assertThat(ep.allocateBuffer(new AllocateBufferRequest(0x4000)).memDescId())
                    .isEqualTo(i);
        }
        AllocateBufferResponse full = ep.allocateBuffer(new AllocateBufferRequest(0x4000));
        assertThat(full.ret()).isEqualTo(Errno.ENOSPC.negative());
        assertThat(full.memDescId()).isZero();
        assertThat(ep.releaseBuffer(5)).isZero();
        assertThat(ep.allocateBuffer(new AllocateBufferRequest(0x4000)).memDescId())
                .as("a freed id is reused")
                .isEqualTo(5);
        assertThat(ep.allocateBuffer(new AllocateBufferRequest(0)).ret()).isEqualTo(Errno.EINVAL.negative());
    }

    @Test
    void migratedEndpointPropagatesMappingErrorsAsNegativeErrno() {
        Injector inj = injector(4096);
        DcpPlatform p = inj.getInstance(DcpPlatform.class);
        MigratedDcpEndpoint ep = new MigratedDcpEndpoint(p, inj.getInstance(DmaSharing.class), true);
        AllocateBufferResponse a = ep.allocateBuffer(new AllocateBufferRequest(0x8000));
        IommuDomain pio = p.piodmaDomain();
        // Someone else's mapping at the identical IOVA in the PIODMA domain (a table-level map).
        long other = p.memory().allocator().allocate(0x4000, PageUse.BUFFER);
        pio.map(a.dva(), other, 0x4000, Prot.READ);
        MapPiodmaResponse m = ep.mapPiodma(new MapPiodmaRequest(a.memDescId()));
        assertThat(m.ret()).as("identical IOVA taken in the PIODMA domain").isEqualTo(Errno.EEXIST.negative());
        assertThat(m.dva()).isZero();
        IommuApi.unmap(pio, a.dva(), 0x4000);
        assertThat(ep.mapPiodma(new MapPiodmaRequest(a.memDescId())).dva()).isEqualTo(a.dva());
    }

    @Test
    void migratedEndpointAnswersEnomemWhenMemoryIsFull() {
        Injector inj = injector(4096);
        DcpPlatform p = inj.getInstance(DcpPlatform.class);
        MigratedDcpEndpoint ep = new MigratedDcpEndpoint(p, inj.getInstance(DmaSharing.class), false);
        while (p.memory().allocator().largestFreeBlock() >= 0x4000) {
            p.memory().allocator().allocate(p.memory().allocator().largestFreeBlock(), PageUse.BUFFER);
        }
        AllocateBufferResponse a = ep.allocateBuffer(new AllocateBufferRequest(0x4000));
        assertThat(a.ret()).isEqualTo(Errno.ENOMEM.negative());
        assertThat(a.memDescId()).isZero();
    }

    @Test
    void legacyEndpointConsumesIdsPastAFullTableAndReportsSuccess() {
        Injector inj = injector(16384);
        DcpPlatform p = inj.getInstance(DcpPlatform.class);
        LegacyDcpEndpoint ep = new LegacyDcpEndpoint(
                p, IommuDma.builder(p.memory()).profile(Profile.ASAHI_GRANULE).build());
        AllocateBufferResponse last = null;
        for (int i = 1; i <= LegacyDcpEndpoint.MAX_MAPPINGS + 1; i++) {
            last = ep.allocateBuffer(new AllocateBufferRequest(0x4000));
        }
        assertThat(last.ret()).as("the original answers success").isZero();
        assertThat(last.memDescId()).isEqualTo(LegacyDcpEndpoint.MAX_MAPPINGS + 1);
        assertThat(last.dva()).isZero();
        assertThat(ep.kernelLog()).contains("DCP overflowed mapping table, ignoring");
    }

    @Test
    void legacyPatternIsRefusedUpstreamAndByTheSgtableGuardOnFourKibPages() {
        List<DcpDemo.Row> upstream = DcpDemo.legacy(4096, Profile.UPSTREAM);
        assertThat(upstream).allSatisfy(r -> assertThat(r.error()).startsWith("probe: -22"));
        List<DcpDemo.Row> guarded = DcpDemo.legacy(4096, Profile.ASAHI_GRANULE);
        assertThat(guarded).allSatisfy(r -> {
            assertThat(r.piodmaIova()).isEqualTo(-1);
            assertThat(r.error()).contains("map_piodma rejected");
        });
    }

    @Test
    void legacyPatternWithoutTheGuardOverExposesFreedSpilloverPagesToBothDevices() {
        List<DcpDemo.Row> rows = DcpDemo.legacy(4096, Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        DcpDemo.Row twenty = rows.get(1);
        assertThat(twenty.size()).isEqualTo(20 << 10);
        assertThat(twenty.overExposedBytes())
                .as("12 KiB of spillover to each of DCP and PIODMA")
                .isEqualTo(2 * 0x3000);
        assertThat(rows.get(0).overExposedBytes())
                .as("16 KiB fills whole granules")
                .isZero();
        assertThat(rows).allSatisfy(r -> assertThat(r.contiguous()).isTrue());
    }

    @Test
    void legacyPatternIsCleanOnSixteenKibPages() {
        assertThat(DcpDemo.legacy(16384, Profile.ASAHI_GRANULE)).allSatisfy(r -> {
            assertThat(r.error()).isNull();
            assertThat(r.overExposedBytes()).isZero();
            assertThat(r.contiguous()).isTrue();
            assertThat(r.dataMatches()).isTrue();
        });
    }

    @Test
    void migratedPathIsContiguousCleanAndCorrectOnEveryPageSize() {
        for (int pageSize : new int[] {4096, 16384}) {
            for (boolean identical : new boolean[] {false, true}) {
                assertThat(DcpDemo.migrated(pageSize, identical)).allSatisfy(r -> {
                    assertThat(r.error()).isNull();
                    assertThat(r.contiguous()).isTrue();
                    assertThat(r.overExposedBytes()).isZero();
                    assertThat(r.dataMatches()).isTrue();
                    if (identical) {
                        assertThat(r.piodmaIova()).isEqualTo(r.dcpIova());
                    }
                });
            }
        }
    }
}
