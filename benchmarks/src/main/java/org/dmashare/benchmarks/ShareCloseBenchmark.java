package org.dmashare.benchmarks;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.dmashare.dmaapi.CoherentBuffer;
import org.dmashare.dmaapi.DataDirection;
import org.dmashare.dmaapi.DeviceParams;
import org.dmashare.dmaapi.Gfp;
import org.dmashare.dmaapi.IommuDma;
import org.dmashare.dmaapi.LinuxDevice;
import org.dmashare.dmaapi.Profile;
import org.dmashare.dmaapi.SgTable;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Allocate, share into N DART domains and close one buffer with the safe helper, beside the legacy
 * Linux DMA-API path doing the same work in the same run. Every domain lives on its own Apple DART
 * ({@code apple-dart} backend, variant {@code t8020}: 16 KiB granule) over 4 KiB CPU pages, as on
 * an M1. The legacy path is the modelled iommu-dma under
 * {@link Profile#ASAHI_GRANULE_NO_SGTABLE_GUARD} (the profile under which a 16 KiB granule on
 * 4 KiB pages works at all): {@code dma_alloc_coherent} on device 1, {@code dma_get_sgtable}, and
 * {@code dma_map_sgtable} on every further device, then the unmaps and {@code dma_free_coherent}.
 * Sample time, so the report shows the median (p0.50). Target for 16 KiB into two domains:
 * median under 1 µs and no slower than the legacy path.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ShareCloseBenchmark {
    /** Buffer size in bytes: 16 KiB, 1 MiB, 64 MiB. */
    @Param({"16384", "1048576", "67108864"})
    public long size;

    /** Number of domains the buffer is mapped into. */
    @Param({"1", "2", "4", "8"})
    public int domains;

    private DmaSharing sharing;
    private List<IommuDomain> targets;
    private LinuxDevice[] legacy;
    private SgTable[] tables;

    /** Memory and one DART (with one domain) per device, for the helper and for iommu-dma. */
    @Setup
    public void setUp() {
        // Two separate memories and DART sets, so neither path sees the other's tables or pages.
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
        sharing = new DmaSharing(memory);
        targets = new ArrayList<>();
        for (IommuDomain d : dartDomains(memory, domains)) {
            targets.add(d);
        }
        PhysicalMemory legacyMemory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
        IommuDma dma = IommuDma.builder(legacyMemory)
                .profile(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD)
                .build();
        List<IommuDomain> legacyDomains = dartDomains(legacyMemory, domains);
        legacy = new LinuxDevice[domains];
        for (int i = 0; i < domains; i++) {
            IommuDomain d = legacyDomains.get(i);
            legacy[i] = dma.probe(d.iommu().device(0), DeviceParams.platform("dev" + i));
        }
        tables = new SgTable[domains];
    }

    /** {@code count} domains, each on its own DART t8020 over {@code memory}, device 0 attached. */
    static List<IommuDomain> dartDomains(PhysicalMemory memory, int count) {
        List<IommuDomain> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Iommu dart = IommuBackends.find("apple-dart")
                    .create(IommuConfig.builder("t8020").name("dart" + i).build(), memory);
            IommuDomain d = dart.createDomain();
            dart.device(0).attach(d);
            out.add(d);
        }
        return out;
    }

    /**
     * Allocate + map into every domain + close, with the helper.
     *
     * @return the first IOVA, so the work is not dead code
     */
    @Benchmark
    public long shareAndClose() {
        try (SharedBuffer b = sharing.allocate(size, targets)) {
            return b.iova(targets.get(0));
        }
    }

    /**
     * Baseline: the legacy DMA-API path doing the same work. {@code dma_alloc_coherent} on device
     * 1 maps the buffer for it; each further device gets the buffer's scatter-gather table mapped
     * with {@code dma_map_sgtable}; then every table is unmapped and the buffer freed.
     *
     * @return the first device's DMA handle, so the work is not dead code
     */
    @Benchmark
    public long baselineLegacyDmaApi() {
        LinuxDevice first = legacy[0];
        CoherentBuffer buf = first.allocCoherent(size, Gfp.KERNEL);
        for (int i = 1; i < legacy.length; i++) {
            SgTable sgt = first.getSgtable(buf);
            legacy[i].mapSgtable(sgt, DataDirection.BIDIRECTIONAL);
            tables[i] = sgt;
        }
        for (int i = 1; i < legacy.length; i++) {
            legacy[i].unmapSgtable(tables[i], DataDirection.BIDIRECTIONAL);
            tables[i] = null;
        }
        long handle = buf.dmaHandle();
        first.freeCoherent(buf);
        return handle;
    }
}
