package org.dmashare.inject;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import com.google.inject.multibindings.Multibinder;
import java.util.Objects;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;

/**
 * Guice module for dmashare: binds every {@link IommuBackend} found by {@link IommuBackends}
 * into a {@code Set<IommuBackend>} (with a {@link Multibinder}, so other modules can add their
 * own), the given {@link PhysicalMemory}, and a singleton {@link DmaSharing} over it.
 *
 * <pre>{@code
 * Injector injector = Guice.createInjector(new DmaShareModule(PhysicalMemory.create(base, size, 4096)));
 * DmaSharing sharing = injector.getInstance(DmaSharing.class);
 * }</pre>
 */
public final class DmaShareModule extends AbstractModule {
    private final PhysicalMemory memory;
    private final ClassLoader loader;

    /**
     * Wires {@code memory} and the backends visible to dmashare's own class loader.
     *
     * @param memory the memory to bind
     */
    public DmaShareModule(PhysicalMemory memory) {
        this(memory, IommuBackend.class.getClassLoader());
    }

    /**
     * Wires {@code memory} and the backends visible to {@code loader}.
     *
     * @param memory the memory to bind
     * @param loader where to discover backends
     */
    public DmaShareModule(PhysicalMemory memory, ClassLoader loader) {
        this.memory = Objects.requireNonNull(memory, "memory");
        this.loader = Objects.requireNonNull(loader, "loader");
    }

    @Override
    protected void configure() {
        bind(PhysicalMemory.class).toInstance(memory);
        Multibinder<IommuBackend> backends = Multibinder.newSetBinder(binder(), IommuBackend.class);
        for (IommuBackend b : IommuBackends.available(loader)) {
            backends.addBinding().toInstance(b);
        }
    }

    /**
     * The helper over the bound memory.
     *
     * @param memory the bound memory
     * @return one helper per injector
     */
    @Provides
    @Singleton
    DmaSharing dmaSharing(PhysicalMemory memory) {
        return new DmaSharing(memory);
    }
}
