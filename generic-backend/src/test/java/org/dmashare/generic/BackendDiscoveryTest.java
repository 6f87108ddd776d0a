package org.dmashare.generic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.module.Configuration;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.lang.reflect.Method;
import java.net.URISyntaxException;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.stream.Collectors;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuBackends;
import org.junit.jupiter.api.Test;

/** ServiceLoader discovery of the generic backend, on the class path and on the module path. */
class BackendDiscoveryTest {

    @Test
    void classPathDiscoveryFindsGeneric() {
        List<IommuBackend> found = IommuBackends.available();
        assertThat(found).extracting(IommuBackend::name).contains("generic");
        assertThat(found).filteredOn(b -> b.name().equals("generic")).singleElement().isInstanceOf(GenericBackend.class);
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
        ClassLoader empty = new URLClassLoader(new java.net.URL[0], ClassLoader.getPlatformClassLoader());
        assertThat(IommuBackends.available(empty)).isEmpty();
        assertThatThrownBy(() -> IommuBackends.find("generic", empty))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("none");
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
        Set<String> names = finder.findAll().stream().map(r -> r.descriptor().name()).collect(Collectors.toSet());
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
        for (ServiceLoader.Provider<?> p : ServiceLoader.load(layer, spi).stream().toList()) {
            viaLoader.add(p.type().getName());
        }
        assertThat(viaLoader).containsExactly(GenericBackend.class.getName());
    }
}
