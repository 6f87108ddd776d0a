package org.dmashare.examples.dcp;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import com.google.inject.name.Named;
import java.util.Set;
import org.dmashare.InvalidArgumentException;
import org.dmashare.inject.DmaShareModule;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;

/**
 * Guice wiring of the M1-like platform: dmashare's {@link DmaShareModule} (backends, memory,
 * helper) over 4 GiB of sparse RAM at {@code 0x8_0000_0000} with the given kernel page size, plus
 * the two t8020 DARTs taken from the discovered {@code apple-dart} backend.
 */
public final class DcpPlatformModule extends AbstractModule {
    private final int pageSize;

    /**
     * Creates the module.
     *
     * @param pageSize the kernel's PAGE_SIZE: 4096 or 16384
     */
    public DcpPlatformModule(int pageSize) {
        this.pageSize = pageSize;
    }

    @Override
    protected void configure() {
        install(new DmaShareModule(PhysicalMemory.create(DcpPlatform.RAM_BASE, 4L << 30, pageSize)));
        bind(DcpPlatform.class).in(Singleton.class);
    }

    private static Iommu dart(Set<IommuBackend> backends, String name, PhysicalMemory memory) {
        IommuBackend dart = backends.stream()
                .filter(b -> b.name().equals("apple-dart"))
                .findFirst()
                .orElseThrow(
                        () -> new InvalidArgumentException("the apple-dart backend is not on the class path; found "
                                + backends.stream().map(IommuBackend::name).toList()));
        return dart.create(IommuConfig.builder("t8020").name(name).build(), memory);
    }

    @Provides
    @Singleton
    @Named("dcp-dart")
    Iommu dcpDart(Set<IommuBackend> backends, PhysicalMemory memory) {
        return dart(backends, "dcp-dart", memory);
    }

    @Provides
    @Singleton
    @Named("disp0-dart")
    Iommu displayDart(Set<IommuBackend> backends, PhysicalMemory memory) {
        return dart(backends, "disp0-dart", memory);
    }
}
