package org.dmashare.generic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.module.Configuration;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.lang.reflect.Method;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.stream.Collectors;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ServiceLoader discovery of the generic backend, on the class path and on the module path. */
class BackendDiscoveryTest {

    @Test
    void classPathDiscoveryFindsGeneric() {
        List<IommuBackend> found = IommuBackends.available();
        assertThat(found).extracting(IommuBackend::name).contains("generic");
        assertThat(found)
                .filteredOn(b -> b.name().equals("generic"))
                .singleElement()
                .isInstanceOf(GenericBackend.class);
        assertThat(IommuBackends.find("generic")).isInstanceOf(GenericBackend.class);
        List<String> names = found.stream().map(IommuBackend::name).toList();
        assertThat(names).isSorted();
    }

    @Test
    void findOfAnUnknownNameListsWhatWasFound() {
        assertThatThrownBy(() -> IommuBackends.find("nope"))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("'nope'")
                .hasMessageContaining("generic");
    }

    @Test
    void classLoaderOverloadSeesOnlyWhatThatLoaderSees() {
        ClassLoader here = GenericBackend.class.getClassLoader();
        assertThat(IommuBackends.available(here)).extracting(IommuBackend::name).contains("generic");
        assertThat(IommuBackends.find("generic", here)).isInstanceOf(GenericBackend.class);
        // A loader that sees no backend jar: nothing found, and the message says so.
        ClassLoader empty = new URLClassLoader(new URL[0], ClassLoader.getPlatformClassLoader());
        assertThat(IommuBackends.available(empty)).isEmpty();
        assertThatThrownBy(() -> IommuBackends.find("generic", empty))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("none");
    }

    /** A test backend; the subclasses differ only in class, which is what the error must name. */
    abstract static class NamedBackend implements IommuBackend {
        private final String name;

        NamedBackend(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public List<Variant> variants() {
            return List.of();
        }

        @Override
        public Iommu create(IommuConfig config, PhysicalMemory memory) {
            throw new UnsupportedOperationException("test backend " + name);
        }
    }

    /** One of two providers both called {@code twin}. */
    public static final class TwinA extends NamedBackend {
        /** ServiceLoader's constructor. */
        public TwinA() {
            super("twin");
        }
    }

    /** The other provider called {@code twin}. */
    public static final class TwinB extends NamedBackend {
        /** ServiceLoader's constructor. */
        public TwinB() {
            super("twin");
        }
    }

    /** A provider that claims the shipped backend's name. */
    public static final class Impostor extends NamedBackend {
        /** ServiceLoader's constructor. */
        public Impostor() {
            super(GenericBackend.NAME);
        }
    }

    /**
     * A loader that sees everything the test sees plus a {@code META-INF/services} file, written
     * to {@code dir}, that declares {@code providers}: ServiceLoader finds them the way it finds
     * a backend jar's.
     */
    private static URLClassLoader withProviders(Path dir, Class<?>... providers) throws IOException {
        Path services = Files.createDirectories(dir.resolve("META-INF/services"));
        StringBuilder lines = new StringBuilder();
        for (Class<?> p : providers) {
            lines.append(p.getName()).append('\n');
        }
        Files.writeString(services.resolve(IommuBackend.class.getName()), lines);
        return new URLClassLoader(new URL[] {dir.toUri().toURL()}, BackendDiscoveryTest.class.getClassLoader());
    }

    /**
     * Two providers discovered under one name make {@code available} and {@code find} (for any
     * name, since the set of backends is ambiguous) throw InvalidArgumentException naming the
     * name and both classes; nothing is cached, so the failure repeats and discovery through a
     * loader without the duplicate is unaffected.
     */
    @Test
    void twoProvidersWithOneNameAreRejectedNamingBothClasses(@TempDir Path dir) throws IOException {
        try (URLClassLoader twins = withProviders(dir, TwinA.class, TwinB.class)) {
            // The services file really is what ServiceLoader reads: both classes are discovered.
            List<String> discovered = ServiceLoader.load(IommuBackend.class, twins).stream()
                    .map(p -> p.type().getName())
                    .toList();
            assertThat(discovered).contains(TwinA.class.getName(), TwinB.class.getName());

            for (int attempt = 0; attempt < 2; attempt++) {
                assertThatThrownBy(() -> IommuBackends.available(twins))
                        .isInstanceOf(InvalidArgumentException.class)
                        .hasMessageContaining("'twin'")
                        .hasMessageContaining(TwinA.class.getName())
                        .hasMessageContaining(TwinB.class.getName());
            }
            assertThatThrownBy(() -> IommuBackends.find("twin", twins))
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("'twin'")
                    .hasMessageContaining(TwinA.class.getName())
                    .hasMessageContaining(TwinB.class.getName());
            assertThatThrownBy(() -> IommuBackends.find(GenericBackend.NAME, twins))
                    .as("a unique name does not make an ambiguous set of backends usable")
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("'twin'");
        }
        // The library's own view is untouched by the failed discoveries.
        assertThat(IommuBackends.available())
                .extracting(IommuBackend::name)
                .containsOnlyOnce(GenericBackend.NAME)
                .doesNotContain("twin");
        assertThat(IommuBackends.find(GenericBackend.NAME)).isInstanceOf(GenericBackend.class);
    }

    /** A provider that reuses a shipped backend's name is rejected too, naming both classes. */
    @Test
    void aProviderReusingAShippedNameIsRejected(@TempDir Path dir) throws IOException {
        try (URLClassLoader impostor = withProviders(dir, Impostor.class)) {
            assertThatThrownBy(() -> IommuBackends.find(GenericBackend.NAME, impostor))
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("'" + GenericBackend.NAME + "'")
                    .hasMessageContaining(GenericBackend.class.getName())
                    .hasMessageContaining(Impostor.class.getName());
        }
    }

    private static Path location(Class<?> type) throws URISyntaxException {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /**
     * Resolves the compiled api and generic modules into a fresh layer, so the class-path copies
     * play no part: only module-info's {@code provides} can make the backend visible there.
     */
    private static ModuleLayer layer() throws URISyntaxException {
        ModuleFinder finder = ModuleFinder.of(location(IommuBackend.class), location(GenericBackend.class));
        Set<String> names =
                finder.findAll().stream().map(r -> r.descriptor().name()).collect(Collectors.toSet());
        assertThat(names).contains("org.dmashare.api", "org.dmashare.generic");
        ModuleReference generic = finder.find("org.dmashare.generic").orElseThrow();
        assertThat(generic.descriptor().provides()).anySatisfy(p -> {
            assertThat(p.service()).isEqualTo(IommuBackend.class.getName());
            assertThat(p.providers()).containsExactly(GenericBackend.class.getName());
        });
        ModuleLayer boot = ModuleLayer.boot();
        Configuration cf = boot.configuration().resolveAndBind(finder, ModuleFinder.of(), Set.of("org.dmashare.api"));
        assertThat(cf.modules()).extracting(m -> m.name()).contains("org.dmashare.generic");
        return boot.defineModulesWithOneLoader(cf, ClassLoader.getPlatformClassLoader());
    }

    @Test
    void modulePathDiscoveryFindsGenericThroughModuleInfoProvides() throws Exception {
        ModuleLayer layer = layer();
        Module api = layer.findModule("org.dmashare.api").orElseThrow();
        assertThat(api.isNamed()).isTrue();
        ClassLoader loader = layer.findLoader("org.dmashare.api");
        Class<?> spi = loader.loadClass(IommuBackend.class.getName());
        assertThat(spi).as("the layer's own copy of the SPI").isNotSameAs(IommuBackend.class);
        assertThat(spi.getModule()).isSameAs(api);

        // IommuBackends.available(ModuleLayer), called inside the named api module (which "uses" the SPI).
        Class<?> backends = loader.loadClass(IommuBackends.class.getName());
        Method available = backends.getMethod("available", ModuleLayer.class);
        List<?> found = (List<?>) available.invoke(null, layer);
        Method name = spi.getMethod("name");
        List<String> names = new ArrayList<>();
        for (Object b : found) {
            names.add((String) name.invoke(b));
            assertThat(b.getClass().getModule().getName()).isEqualTo("org.dmashare.generic");
        }
        assertThat(names).containsExactly("generic");

        // The plain ServiceLoader over the layer agrees.
        List<String> viaLoader = new ArrayList<>();
        for (ServiceLoader.Provider<?> p :
                ServiceLoader.load(layer, spi).stream().toList()) {
            viaLoader.add(p.type().getName());
        }
        assertThat(viaLoader).containsExactly(GenericBackend.class.getName());
    }
}
