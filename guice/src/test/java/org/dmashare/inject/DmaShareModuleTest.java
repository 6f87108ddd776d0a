package org.dmashare.inject;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.Set;
import org.dmashare.generic.GenericBackend;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.junit.jupiter.api.Test;

/** The optional Guice wiring: discovered backends, the memory and one helper per injector. */
class DmaShareModuleTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);

    @Test
    void injectorProvidesBackendsTheMemoryAndASingletonHelper() {
        Injector injector = Guice.createInjector(new DmaShareModule(memory));
        Set<IommuBackend> backends = injector.getInstance(Key.get(new TypeLiteral<Set<IommuBackend>>() {}));
        assertThat(backends).extracting(IommuBackend::name).contains("generic");
        assertThat(backends).anySatisfy(b -> assertThat(b).isInstanceOf(GenericBackend.class));
        assertThat(injector.getInstance(PhysicalMemory.class)).isSameAs(memory);
        DmaSharing sharing = injector.getInstance(DmaSharing.class);
        assertThat(sharing).isSameAs(injector.getInstance(DmaSharing.class));
        assertThat(sharing.memory()).isSameAs(memory);
        Injector other = Guice.createInjector(new DmaShareModule(memory));
        assertThat(other.getInstance(DmaSharing.class))
                .as("one helper per injector")
                .isNotSameAs(sharing);
    }

    @Test
    void classLoaderConstructorDiscoversThroughThatLoader() {
        ClassLoader empty = new URLClassLoader(new URL[0], ClassLoader.getPlatformClassLoader());
        Injector injector = Guice.createInjector(new DmaShareModule(memory, empty));
        Set<IommuBackend> backends = injector.getInstance(Key.get(new TypeLiteral<Set<IommuBackend>>() {}));
        assertThat(backends).isEmpty();
    }
}
